"""One trainable search policy for every kind of question: candidate actions (search, read,
extract into working memory, compose memory items, answer with one) -> features -> scores
-> masked softmax, with the log-probabilities and RL losses written as NumPy that
`coarsen.grad` differentiates. Nothing in this package knows which regime a question comes
from (tests/agents/test_policy_agnostic.py enforces it).

    from agents.policy import PolicyAgent, init_params, N_FEATURES
    agent = PolicyAgent(init_params(N_FEATURES))
    record = run_episode(env, agent, task, seed=0)   # agent.decisions: what training needs
"""
from .agent import Decision, PolicyAgent
from .features import DENSE, N_FEATURES, featurize
from .model import (decision_logp, distribution, episode_logp, grpo_advantages, grpo_loss,
                    init_params, oapl_loss, oapl_value, scores)

__all__ = ["PolicyAgent", "Decision", "N_FEATURES", "DENSE", "featurize", "init_params",
           "scores", "decision_logp", "episode_logp", "oapl_loss", "oapl_value", "grpo_loss",
           "grpo_advantages", "distribution"]
