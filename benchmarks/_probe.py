"""A one-line program for checking which coarsen targets compile on this machine."""


def square(x):
    return x * x
