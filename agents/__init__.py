"""Search agents over a generated enterprise: world, tools, six regimes, baselines, synthesis.

Typical use::

    from agents import build_world, SearchIndex, SearchEnv, sample_tasks, run_episode
    world = build_world(seed=0)                       # ~2,000 documents
    env = SearchEnv(SearchIndex.build(world.docs))
    task = sample_tasks(world, "numeric", 1, split="eval")[0]
    record = run_episode(env, make_agent("heuristic"), task)
"""
from .baselines import AGENT_NAMES, HeuristicAgent, OracleAgent, RandomAgent, make_agent, \
    run_episode
from .env import Cost, SearchEnv
from .tasks import REGIME_NAMES, REGIMES, Task, grade, sample_mixed, sample_tasks
from .tools import SearchIndex
from .world import World, build_world

__all__ = ["build_world", "World", "SearchIndex", "SearchEnv", "Cost", "Task", "REGIMES",
           "REGIME_NAMES", "sample_tasks", "sample_mixed", "grade", "run_episode", "make_agent",
           "OracleAgent", "RandomAgent", "HeuristicAgent", "AGENT_NAMES"]
