"""python -m benchmarks [--quick] [--target cpu|numpy] [--only a,b]: every application."""
from benchmarks import bgd_hyperopt, brachistochrone, branch_kernel, cartpole, hmc, hookean, rk4
from benchmarks.harness import main

ALL = [m.BENCHMARK for m in (bgd_hyperopt, branch_kernel, hookean, brachistochrone, hmc, cartpole, rk4)]

if __name__ == "__main__":
    main(ALL)
