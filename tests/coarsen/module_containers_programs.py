"""Module-level lists and dicts of numbers read by compiled code (test_module_containers.py)."""
import numpy as np

COEFS = [1.0, -2.0, 0.5]
CFG = {"scale": 3.0, "shift": 0.25, "n": 3, "w": np.array([1.0, 2.0])}


def horner(x):
    s = 0.0
    for c in COEFS[::-1]:
        s = s * x + c
    return s


def indexed(x):
    s = 0.0
    for i in range(len(COEFS)):
        s = s + COEFS[i] * x ** i
    return s


def configured(x):
    s = 0.0
    for i in range(CFG["n"]):
        s = s + CFG["scale"] * x + CFG["shift"]
    return s + np.sum(CFG["w"] * x)
