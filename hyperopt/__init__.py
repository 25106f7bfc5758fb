"""hyperopt: optimizers that learn their own hyperparameters, stacked into towers.

Public API:
- ``SGD``, ``Adam``, ``AdaGrad``, ``RMSProp``: each takes ``optimizer=`` (the optimizer of its
  hyperparameters), so ``Adam(1e-3, optimizer=Adam(1e-4, optimizer=SGD(1e-5)))`` is a tower.
  With NumPy parameters they are optax-style: ``state = opt.init(params)``;
  ``loss, params, state = opt.step(loss_fn, params, state, *batch)``;
  ``opt.hyperparameters(state)``.
- ``minimize(loss_fn, params, opt, batches, steps)``: the loop, with a ``History``.
- ``NonFiniteError``: raised when a step meets NaN/inf and ``on_nonfinite="raise"``.
- ``hyperopt.torch``: the same optimizers for ``nn.Module`` parameters, the torch.optim way.
  Importing ``hyperopt`` does not import torch.

See hyperopt/README.md for the maths (hyperparameter domains, the trust bound) and results.
"""
from hyperopt.numpy_backend import History, MinimizeResult, State, minimize
from hyperopt.optimizers import SGD, AdaGrad, Adam, Optimizer, RMSProp
from hyperopt.tower import NonFiniteError

__all__ = ["SGD", "Adam", "AdaGrad", "RMSProp", "Optimizer", "minimize", "History",
           "MinimizeResult", "State", "NonFiniteError"]
