"""Vocabularies the world generator draws from.

Input: none. Output: tuples of words and small helpers that build unbounded unique names
(people, companies, products, teams) from them. Invariants: every helper is a pure function
of the `random.Random` it is handed, so the world stays deterministic per seed.
"""
from __future__ import annotations

import random

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Anika", "Arjun", "Beatriz", "Bruno", "Camila", "Carlos", "Chen",
    "Chloe", "Dalia", "Daniel", "Dmitri", "Elena", "Emeka", "Emil", "Esther", "Farah", "Felix",
    "Fiona", "Gabriel", "Grace", "Hana", "Hassan", "Helena", "Hugo", "Ines", "Ingrid", "Isaac",
    "Jamal", "Jana", "Javier", "Jonas", "Julia", "Kai", "Karin", "Kenji", "Kofi", "Lara", "Leila",
    "Leon", "Lina", "Lucas", "Maya", "Mateo", "Mei", "Mikael", "Mira", "Nadia", "Nikhil", "Nina",
    "Noah", "Olga", "Omar", "Oscar", "Paula", "Pedro", "Priya", "Rafael", "Rania", "Ravi", "Rosa",
    "Ruth", "Sami", "Sara", "Selin", "Sofia", "Soren", "Tariq", "Tessa", "Theo", "Tomas", "Uma",
    "Valentina", "Victor", "Wei", "Yara", "Yusuf", "Zara", "Zoe", "Anton", "Bianca", "Cyrus",
    "Dina", "Erik", "Freya", "Goran", "Hiro", "Ivan", "Jin", "Kira", "Luca", "Marta", "Nils",
    "Petra", "Quinn", "Rhea", "Stefan", "Talia",
)

LAST_NAMES = (
    "Abebe", "Alvarez", "Andersen", "Baptiste", "Bauer", "Becker", "Bianchi", "Brandt", "Castro",
    "Chowdhury", "Costa", "Dahl", "Dubois", "Eriksen", "Fischer", "Fontaine", "Garcia", "Gomez",
    "Haddad", "Hansen", "Herrera", "Holm", "Ibrahim", "Ito", "Jensen", "Kato", "Keller", "Khan",
    "Kowalski", "Kumar", "Larsen", "Lindqvist", "Lopez", "Marino", "Mendes", "Meyer", "Moreau",
    "Nakamura", "Novak", "Nowak", "Okafor", "Oliveira", "Osei", "Park", "Patel", "Petrov",
    "Quispe", "Rahman", "Reyes", "Rossi", "Sato", "Schmidt", "Silva", "Singh", "Sorensen",
    "Suzuki", "Tanaka", "Torres", "Ueda", "Varga", "Vasquez", "Wagner", "Weber", "Yilmaz",
    "Young", "Zhang", "Zimmer", "Adeyemi", "Bergstrom", "Ciobanu", "Delgado", "Engel", "Ferreira",
    "Grant", "Horvat", "Ivanova", "Jovanovic", "Kruger", "Lam", "Mbeki", "Nguyen", "Ortiz",
    "Popescu", "Ruiz", "Schulz", "Takahashi", "Usman", "Vogel", "Wong", "Xu", "Yamada", "Zeller",
)

_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br",
           "cr", "dr", "gr", "kl", "pr", "st", "tr", "sk", "th", "qu", "fl", "sl")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou")
_CODAS = ("", "n", "r", "s", "x", "l", "m", "th", "nd", "rk", "st", "v")

ROLES = {
    "Engineering": ("Software Engineer", "Senior Software Engineer", "Staff Engineer",
                    "Site Reliability Engineer", "Data Engineer", "Engineering Manager"),
    "Sales": ("Account Executive", "Senior Account Executive", "Sales Engineer",
              "Customer Success Manager", "Sales Manager"),
    "Finance": ("Financial Analyst", "Senior Financial Analyst", "Controller", "Finance Manager"),
    "Operations": ("Operations Analyst", "Program Manager", "Procurement Specialist",
                   "Operations Manager"),
    "Marketing": ("Product Marketing Manager", "Content Strategist", "Marketing Analyst",
                  "Marketing Manager"),
    "Support": ("Support Engineer", "Senior Support Engineer", "Technical Account Manager",
                "Support Manager"),
}
DEPARTMENTS = tuple(ROLES)

TEAM_WORDS = (
    "Platform", "Data", "Payments", "Identity", "Search", "Billing", "Growth", "Reliability",
    "Analytics", "Storage", "Edge", "Mobile", "Insights", "Compliance", "Integrations",
    "Revenue", "Enterprise", "Partnerships", "Onboarding", "Forecasting", "Treasury", "Pricing",
    "Logistics", "Vendor", "Brand", "Campaigns", "Community", "Escalations", "Field",
    "Infrastructure", "Security", "Observability", "Messaging", "Workflow", "Catalog",
    "Ledger", "Telemetry", "Routing", "Fulfilment", "Research",
)
TEAM_QUALIFIERS = ("", "Core", "North", "South", "East", "West", "Labs", "Central", "Prime",
                   "Atlas", "Delta", "Nova")

OFFICES = ("Amsterdam", "Austin", "Bangalore", "Berlin", "Boston", "Dublin", "Lisbon",
           "London", "Madrid", "Melbourne", "Mexico City", "Paris", "Sao Paulo", "Seattle",
           "Singapore", "Tokyo", "Toronto", "Warsaw")

REGIONS = ("North America", "EMEA", "APAC", "LATAM")
REGION_CITIES = {
    "North America": ("Chicago", "Denver", "Atlanta", "Montreal", "Phoenix", "Minneapolis"),
    "EMEA": ("Hamburg", "Lyon", "Milan", "Rotterdam", "Stockholm", "Zurich", "Vienna"),
    "APAC": ("Osaka", "Seoul", "Sydney", "Jakarta", "Taipei", "Auckland", "Manila"),
    "LATAM": ("Bogota", "Santiago", "Lima", "Monterrey", "Buenos Aires", "Quito"),
}
INDUSTRIES = ("Healthcare", "Retail", "Energy", "Manufacturing", "Logistics", "Insurance",
              "Banking", "Telecommunications", "Education", "Media", "Agriculture",
              "Hospitality", "Aerospace", "Pharmaceuticals")
SIZES = ("SMB", "Mid-Market", "Enterprise")
COMPANY_SUFFIXES = ("Group", "Holdings", "Partners", "Labs", "Systems", "Industries",
                    "Networks", "Works", "Dynamics", "Collective", "Ventures", "Solutions")

PRODUCT_WORDS = (
    "Helix", "Orbit", "Quasar", "Lumen", "Vector", "Nimbus", "Cobalt", "Pulsar", "Atlas",
    "Falcon", "Ember", "Zephyr", "Prism", "Sable", "Tundra", "Vortex", "Beacon", "Cinder",
    "Drift", "Flux", "Glacier", "Harbor", "Ion", "Juniper", "Kestrel", "Lattice", "Mosaic",
    "Nexus", "Onyx", "Polaris",
)
PRODUCT_LINES = ("data platform", "observability suite", "payments gateway",
                 "identity service", "workflow engine", "analytics warehouse", "message broker",
                 "edge cache")
DEAL_STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won",
               "Closed Lost")
OPEN_STAGES = DEAL_STAGES[:4]
SEGMENTS = ("Cloud Services", "Licenses", "Professional Services", "Support Contracts",
            "Hardware", "Training", "Managed Hosting", "Marketplace")
DIVISION_WORDS = ("Northwind", "Southgate", "Eastbrook", "Westfield", "Highland", "Riverside",
                  "Lakeshore", "Summit", "Meridian", "Harborview")
STATUSES = ("on track", "at risk", "escalated", "expansion planned", "renewal pending")
PROJECT_WORDS = (
    "Falcon", "Aurora", "Bastion", "Cascade", "Dynamo", "Equinox", "Fathom", "Granite",
    "Horizon", "Inkwell", "Jetstream", "Keystone", "Lighthouse", "Monsoon", "Northstar",
    "Outpost", "Pinnacle", "Quartz", "Redwood", "Sequoia", "Trident", "Upland", "Vanguard",
    "Willow", "Yonder", "Zenith",
)
PROJECT_FIELDS = ("launch date", "budget", "project lead")

# Runbook step vocabulary: steps combine a verb phrase with a component-specific object, so
# steps of different runbooks rarely coincide.
COMPONENTS = ("replication", "ingest pipeline", "scheduler", "auth proxy", "cache tier",
              "query planner", "storage node", "message queue", "license server",
              "metrics agent", "backup job", "webhook dispatcher", "search indexer",
              "config service", "TLS terminator", "rate limiter")
SYMPTOMS = ("lag exceeded", "handshake failed", "quota exhausted", "checksum mismatch",
            "heartbeat timeout", "lock contention", "disk watermark reached",
            "certificate expired", "schema drift detected", "connection pool exhausted",
            "token refresh failed", "clock skew detected")
STEP_TEMPLATES = (
    "Drain traffic from the affected {component} instance",
    "Capture a diagnostic bundle with `{cli} diag --component {slug}`",
    "Check the {component} logs for {code} entries in the last hour",
    "Pause writes to the {component} using `{cli} pause {slug}`",
    "Rotate the {component} credentials in the secrets vault",
    "Increase the {component} worker pool to {n} threads",
    "Run `{cli} repair {slug} --verify`",
    "Restart the {component} service on each node, one node at a time",
    "Rebuild the {component} index from the last good snapshot",
    "Clear the {component} local state directory",
    "Resume writes with `{cli} resume {slug}`",
    "Confirm the {component} health check reports green for {n} minutes",
    "Apply the hotfix package {cli}-hotfix-{n}",
    "Reset the {component} offset to the last committed checkpoint",
    "Scale the {component} cluster to {n} replicas",
    "Re-sync the {component} clock with the NTP pool",
    "Flush the {component} write-ahead log",
    "Open a ticket with the {component} owners and attach the bundle",
    "Renew the {component} certificate with `{cli} certs renew {slug}`",
    "Lower the {component} batch size to {n}",
)
PREREQ_TEMPLATES = (
    "Announce the maintenance window in the #ops-{slug} channel",
    "Take a fresh snapshot with `{cli} snapshot create`",
    "Confirm you hold the {lower}-operator role",
    "Verify that `{cli} status` reports no ongoing upgrade",
    "Export the current configuration with `{cli} config export`",
)
# Shared sub-procedures that runbook steps refer to by name (expanded in the gold answer).
SUBPROCEDURES = {
    "safe restart": ("Cordon the node with `{cli} node cordon`",
                     "Restart the {product} daemon with `{cli} daemon restart --graceful`",
                     "Uncordon the node with `{cli} node uncordon`"),
    "failover": ("Promote the standby with `{cli} failover promote`",
                 "Verify replication with `{cli} replication status`",
                 "Fence the old primary with `{cli} fence --old-primary`",
                 "Update the service DNS record to the new primary"),
    "cache purge": ("Disable cache writes with `{cli} cache freeze`",
                    "Purge every cache shard with `{cli} cache purge --all`",
                    "Re-enable cache writes with `{cli} cache thaw`"),
}
ACTION_TEMPLATES = (
    "draft the {project} rollout plan", "review the {project} budget forecast",
    "schedule a customer call about {project}", "update the {project} risk register",
    "prepare the {project} demo", "collect requirements for {project}",
    "audit access for {project}", "write the {project} post-mortem",
    "benchmark {project} performance", "sync with legal on {project}",
)


def syllable_word(rng: random.Random, syllables: int) -> str:
    """A pronounceable capitalised word such as 'Brainor'."""
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return ("".join(parts) + rng.choice(_CODAS)).capitalize()


def unique_names(rng: random.Random, n: int, make) -> list[str]:
    """n distinct names drawn by calling make(rng, attempt) until enough are unique.
    Every `make` must eventually produce unbounded variety (a syllable fallback) or this
    raises instead of looping forever."""
    seen: set[str] = set()
    out: list[str] = []
    attempt = 0
    while len(out) < n:
        if attempt > 50 * n + 10_000:
            raise RuntimeError(f"{make.__name__} cannot produce {n} distinct names")
        name = make(rng, attempt)
        attempt += 1
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def person_name(rng: random.Random, attempt: int) -> str:
    # Real-sounding surnames first; generated ones take over when the combinations run out.
    last = rng.choice(LAST_NAMES) if attempt < 6000 or rng.random() < 0.3 else \
        syllable_word(rng, 2)
    return f"{rng.choice(FIRST_NAMES)} {last}"


def company_name(rng: random.Random, attempt: int) -> str:
    return f"{syllable_word(rng, 2)} {rng.choice(COMPANY_SUFFIXES)}"


def product_name(rng: random.Random, attempt: int) -> str:
    return rng.choice(PRODUCT_WORDS) if attempt < 60 else syllable_word(rng, 2)


def team_name(rng: random.Random, attempt: int) -> str:
    if attempt > 300:  # the word list is exhausted in very large worlds
        return f"{syllable_word(rng, 2)} {rng.choice(TEAM_WORDS)}"
    q = rng.choice(TEAM_QUALIFIERS) if attempt > 30 else ""
    return f"{rng.choice(TEAM_WORDS)} {q}".strip()


def project_name(rng: random.Random, attempt: int) -> str:
    word = rng.choice(PROJECT_WORDS) if attempt < 60 else syllable_word(rng, 2)
    return f"Project {word}"
