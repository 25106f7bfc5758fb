"""Programs outside coarsen's language, one construct each (used by test_unsupported.py).

Each function marks the line the error must point at with `# error here`. `CASES` lists
(function, example arguments, error class, words the message must contain).
"""
# ruff: noqa
import math

import numpy as np

import coarsen

G = 1.0
TABLE = np.array([1.0, 2.0, 3.0])
RNG = np.random.default_rng(0)


def class_def(x):
    class Point:  # error here
        pass
    return x


def generator_expr(x, n):
    total = max(x[i] * x[i] for i in range(int(n)))  # error here
    return total


def generator_fn(x):
    for i in range(3):
        yield x * i  # error here
    return x


def try_except(x):
    try:  # error here
        y = 1.0 / x
    except ZeroDivisionError:
        y = 0.0
    return y


def recursive(x, n):
    if n == 0:
        return x
    return recursive(x * 2.0, n - 1)  # error here


def ping(x, n):
    if n <= 0:
        return x
    return pong(x + 1.0, n - 1)


def pong(x, n):
    return ping(x * 0.5, n - 1)  # error here


def with_stmt(x):
    with np.errstate(all="ignore"):  # error here
        y = np.log(x)
    return y


def lambda_expr(x):
    square = lambda *v: v[0] * v[0]  # error here
    return square(x)


def string_concat(x):
    label = "loss: " + "x"  # error here
    return x


def f_string(x):
    label = f"value {x}"  # error here
    return x


def string_method(x):
    name = "abc".upper()  # error here
    return x


def numpy_linalg(a):
    return np.linalg.eig(a)  # error here


def numpy_cumsum(x):
    c = np.nancumsum(x)  # error here
    return c


def numpy_random(x):
    noise = np.random.permutation(3)  # error here
    return x + noise


def write_input(x):
    x[0] = 1.0  # error here
    return x


def inplace_input(x):
    x += 1.0  # error here
    return x


def write_alias(x):
    z = np.zeros(3)
    w = z
    z[0] = 1.0  # error here
    return w


def write_view_alias(x):
    z = np.zeros(3)
    head = z[0:2]
    z[0] = x  # error here
    return head


def write_join_alias(x, c):
    z = np.zeros(3)
    w = z if c else np.ones(3)
    z[1] = x  # error here
    return w


def write_loop_alias(x):
    z = np.zeros(3)
    w = np.ones(3)
    for i in range(3):
        z[i] = x  # error here
        w = z
    return w


def helper_writes(a):
    a[0] = 0.0  # error here
    return a


def write_through_helper(x):
    z = np.zeros(3)
    return helper_writes(z)


def boolean_mask(x):
    return np.sum(x[x > 0.0] * 2.0)  # error here


def fancy_index(x):
    idx = np.array([0.0, 2.0])
    return x[idx]  # error here


def global_mutation(x):
    global G  # error here
    G = x
    return x


def module_array_write(x):
    TABLE[0] = x  # error here
    return TABLE


def make_nonlocal():
    count = 0

    def counter(x):
        nonlocal count  # error here
        count = count + 1
        return x
    return counter


nonlocal_counter = make_nonlocal()


def print_call(x):
    print(x)  # error here
    return x


def list_append(x, n):
    xs = []
    for i in range(int(n)):  # error here
        xs.append(x)
    return x


def del_stmt(x):
    y = x * 2.0
    del y  # error here
    return x


def assert_stmt(x):
    assert x > 0.0, f"x = {x}"  # error here
    return x


def star_args(x):
    return np.maximum(*x)  # error here: an array's length is known only when running


def star_params(*xs):  # error here
    return xs[0]


def kwargs_helper(x, **options):
    return x


def call_kwargs_helper(x):
    options = {"scale": 2.0}
    return kwargs_helper(x, scale=1.0, **options)  # error here: Python's TypeError


def dict_literal(x):
    d = {"a": x}
    d["a"] = 2.0 * x  # error here
    return d["a"]


def list_comprehension(x):
    squares = [x[i] * x[i] for i in range(int(x[0]))]  # error here
    return squares


def for_over_list(x):
    s = 0.0
    for v in [1.0, 2.0]:  # error here
        if v > x:
            break
        s = s + v * x
    return s


def for_else(x):
    s = x
    for i in range(3):  # error here
        s = s * 2.0
    else:
        s = 0.0
    return s


def while_else(x):
    i = 0
    while i < 3:  # error here
        i += 1
    else:
        x = 0.0
    return x


def object_method(x):
    return x + RNG.choice(3, p=[0.2, 0.3, 0.5])  # error here


def array_tolist(x):
    return x.tolist()  # error here


def is_comparison(x, y):
    if x is y:  # error here
        return 0.0
    return x


def in_comparison(x):
    if x in (1.0, 2.0):  # error here
        return 0.0
    return x


def array_truth(x):
    if x > 0.0:  # error here
        return x
    return -x


def branch_type_conflict(x, c):
    if c:
        y = 1.0
    else:
        y = x
    return y  # error here


def loop_type_conflict(x):
    s = 0.0
    for i in range(3):  # error here
        s = x * i
    return s


def walrus(x):
    n = 3
    while (n := n - 1) > 0:  # error here
        x = x * 2.0
    return x


def set_literal(x):
    s = {x, 1.0}  # error here
    return x


def match_stmt(x):
    match x:  # error here
        case 0.0:
            return 1.0
    return x


def raise_stmt(x):
    if x < 0.0:
        raise ValueError(f"negative: {x}")  # error here
    return x


def import_inside(x):
    import math as m  # error here
    return m.exp(x)


def bitwise_xor(n):
    return n ^ 3  # error here


def range_of_float(x):
    s = 0.0
    for i in range(x):  # error here
        s = s + i
    return s


def no_return(x):  # error here
    y = x * 2.0


def maybe_no_return(x):  # error here
    if x > 0.0:
        return x


def unpack_mismatch(x):
    a, b = (x, x, x)  # error here
    return a + b


def zeros_int_dtype(x):
    z = np.zeros(3, dtype=int)  # error here
    return z


def dynamic_shape_index(x, k):
    return x.shape[int(k)]  # error here


def bool_array_write(x):
    m = x > 0.0
    m[0] = True  # error here
    return m


def attribute_store(x):
    x.flags = 1  # error here
    return x


def assert_shape_broadcast(x):
    y = x.copy()
    y += np.ones((2, 3))  # error here
    return y


def element_write_shape(x, a):
    z = np.zeros(3)
    z[0] = a  # error here
    return z


def async_fn(x):
    async def inner():  # error here
        return x
    return x


CASES = [
    # (function or factory, args, error class, words the message must contain)
    (class_def, (1.0,), coarsen.UnsupportedError, ["class"]),
    (generator_expr, (np.ones(3), 2.0), coarsen.UnsupportedError, ["generator expression", "known only when the program runs"]),
    (generator_fn, (1.0,), coarsen.UnsupportedError, ["generator", "yield"]),
    (try_except, (1.0,), coarsen.UnsupportedError, ["try"]),
    (recursive, (1.0, 3.0), coarsen.UnsupportedError, ["recursion", "recursive", "does not stop when tracing"]),
    (ping, (1.0, 3.0), coarsen.UnsupportedError, ["recursion", "ping -> pong -> ping"]),
    (with_stmt, (1.0,), coarsen.UnsupportedError, ["with"]),
    (lambda_expr, (1.0,), coarsen.UnsupportedError, ["nested functions with *args"]),
    (string_concat, (1.0,), coarsen.UnsupportedError, ["string"]),
    (f_string, (1.0,), coarsen.UnsupportedError, ["string"]),
    (string_method, (1.0,), coarsen.UnsupportedError, ["string"]),
    (numpy_linalg, (np.eye(2),), coarsen.UnsupportedError, ["np.linalg.eig"]),
    (numpy_cumsum, (np.ones(3),), coarsen.UnsupportedError, ["np.nancumsum"]),
    (numpy_random, (np.ones(3),), coarsen.UnsupportedError, ["np.random.permutation"]),
    (write_input, (np.ones(3),), coarsen.UnsupportedError, ["write", "`x`", "argument"]),
    (inplace_input, (np.ones(3),), coarsen.UnsupportedError, ["in place", "`x`"]),
    (write_alias, (1.0,), coarsen.UnsupportedError, ["`z`", "`w`"]),
    (write_view_alias, (1.0,), coarsen.UnsupportedError, ["`z`", "`head`"]),
    (write_join_alias, (1.0, True), coarsen.UnsupportedError, ["`z`", "`w`"]),
    (write_loop_alias, (1.0,), coarsen.UnsupportedError, ["`z`", "`w`"]),
    (write_through_helper, (1.0,), coarsen.UnsupportedError, ["write", "`a`"]),
    (boolean_mask, (np.ones(3),), coarsen.UnsupportedError, ["boolean"]),
    (fancy_index, (np.ones(3),), coarsen.UnsupportedError, ["integer arrays", "floats"]),
    (global_mutation, (1.0,), coarsen.UnsupportedError, ["global"]),
    (module_array_write, (1.0,), coarsen.UnsupportedError, ["write", "`TABLE`", "module-level"]),
    (nonlocal_counter, (1.0,), coarsen.UnsupportedError, ["nonlocal"]),
    (print_call, (1.0,), coarsen.UnsupportedError, ["print"]),
    (list_append, (1.0, 3.0), coarsen.UnsupportedError, ["list that grows", "known when tracing"]),
    (del_stmt, (1.0,), coarsen.UnsupportedError, ["del"]),
    (assert_stmt, (1.0,), coarsen.UnsupportedError, ["assert"]),
    (star_args, (np.ones(2),), coarsen.UnsupportedError, ["*x in a call unpacks", "f64[?]"]),
    (star_params, (1.0,), coarsen.UnsupportedError, ["*args"]),
    (call_kwargs_helper, (1.0,), coarsen.UnsupportedError, ["'scale' is given twice"]),
    (dict_literal, (1.0,), coarsen.UnsupportedError, ["dict"]),
    (list_comprehension, (np.ones(3),), coarsen.UnsupportedError, ["list comprehension", "known only when the program runs"]),
    (for_over_list, (1.0,), coarsen.UnsupportedError, ["break", "loop over a list"]),
    (for_else, (1.0,), coarsen.UnsupportedError, ["for/else"]),
    (while_else, (1.0,), coarsen.UnsupportedError, ["while/else"]),
    (object_method, (1.0,), coarsen.UnsupportedError, ["the p of a random draw"]),
    (array_tolist, (np.ones(3),), coarsen.UnsupportedError, [".tolist"]),
    (is_comparison, (1.0, 2.0), coarsen.UnsupportedError, ["`is`"]),   # `x is None` folds (#22)
    (in_comparison, (1.0,), coarsen.UnsupportedError, ["`in`"]),
    (array_truth, (np.ones(3),), coarsen.UnsupportedError, ["truth value", "array"]),
    (branch_type_conflict, (np.ones(3), True), coarsen.CoarsenTypeError, ["`y`", "f64[?]"]),
    (loop_type_conflict, (np.ones(3),), coarsen.CoarsenTypeError, ["`s`"]),
    (walrus, (1.0,), coarsen.UnsupportedError, [":="]),
    (set_literal, (1.0,), coarsen.UnsupportedError, ["set"]),
    (match_stmt, (1.0,), coarsen.UnsupportedError, ["match"]),
    (raise_stmt, (1.0,), coarsen.UnsupportedError, ["raise"]),
    (import_inside, (1.0,), coarsen.UnsupportedError, ["import"]),
    (bitwise_xor, (3,), coarsen.UnsupportedError, ["^"]),
    (range_of_float, (2.5,), coarsen.CoarsenTypeError, ["range", "integers"]),
    (no_return, (1.0,), coarsen.UnsupportedError, ["no_return", "return"]),
    (maybe_no_return, (1.0,), coarsen.UnsupportedError, ["maybe_no_return", "return"]),
    (unpack_mismatch, (1.0,), coarsen.CoarsenTypeError, ["unpack", "3", "2"]),
    (zeros_int_dtype, (1.0,), coarsen.UnsupportedError, ["dtype=int"]),
    (dynamic_shape_index, (np.ones(3), 0.0), coarsen.UnsupportedError, ["compile time"]),
    (bool_array_write, (np.ones(3),), coarsen.UnsupportedError, ["`m`", "bool"]),
    (attribute_store, (np.ones(3),), coarsen.UnsupportedError, ["attribute"]),
    (assert_shape_broadcast, (np.ones(3),), coarsen.CoarsenTypeError, ["in-place", "`y`"]),
    (element_write_shape, (1.0, np.ones(2)), coarsen.CoarsenTypeError, ["`z[...]`", "element"]),
    (async_fn, (1.0,), coarsen.UnsupportedError, ["async"]),
]
