"""The exact engine on FLINT rationals (python-flint) against the pure-Python fraction path, on the same instances."""

from __future__ import annotations

from dataclasses import fields
from fractions import Fraction

import numpy as np
import pytest

from toymdp import MDP, Instance, evaluate
from toymdp.mdp import engine
from toymdp.checking.checks import check_all
from toymdp.mdp.numbers import from_flint, to_flint, use_flint
from toymdp.mdp.random_instances import random_instances
from toymdp.checking.search import random_batch

pytest.importorskip("flint")


def _arrays(ev) -> dict[str, list]:
    """Every array of an evaluation, flattened to lists (nested policy terms included)."""
    out = {}
    for f in fields(ev):
        value = getattr(ev, f.name)
        if f.name in ("instance", "flint"):
            continue
        if f.name in ("pi", "pi_tilde"):
            out.update({f"{f.name}.{g.name}": np.asarray(getattr(value, g.name)).reshape(-1).tolist() for g in fields(value)})
        else:
            out[f.name] = np.asarray(value).reshape(-1).tolist()
    return out


def _both_paths(fn):
    with use_flint(False):
        fallback = fn()
    with use_flint(True):
        flint = fn()
    return fallback, flint


@pytest.mark.parametrize("batch", [False, True])
def test_flint_evaluation_gives_the_same_fractions(batch):
    inst = random_instances(np.random.default_rng(7), 6, 4, 3, 3, 4, exact=True)
    cases = [inst] if batch else [inst[i] for i in range(6)]
    fallback, flint = _both_paths(lambda: [evaluate(x) for x in cases])
    for a, b in zip(fallback, flint):
        assert a.flint is None and b.flint is not None
        fa, fb = _arrays(a), _arrays(b)
        assert fa == fb
        assert all(type(v) is Fraction for values in fb.values() for v in values)


def test_flint_check_gives_the_same_decisions_on_every_edge_case():
    rng = np.random.default_rng(3)
    kinds = ("generic", "long_horizon", "sparse", "deterministic_base", "deterministic", "single_renderer",
             "identical_renderers", "same_policy", "myopic", "one_state")
    batches = [random_batch(rng, kind, 12, exact=True) for kind in kinds]

    def decide():
        out = []
        for b in batches:
            for sid, r in check_all(evaluate(b)).items():
                out.append((sid, *(np.asarray(getattr(r, f)).reshape(-1).tolist()
                                   for f in ("lhs", "rhs", "slack", "holds", "tightness", "vacuous", "pair") if getattr(r, f) is not None)))
        return out

    fallback, flint = _both_paths(decide)
    assert fallback == flint


def test_float_instances_redecided_exactly_agree():
    """Float near ties are converted to their binary values (large denominators) and re-decided exactly."""
    drawn = random_instances(np.random.default_rng(11), 8, 3, 2, 2, 3)
    inst = Instance(drawn.mdp, drawn.family, drawn.pi, drawn.pi.copy())  # pi = pi~: bounds met with equality
    fallback, flint = _both_paths(lambda: check_all(evaluate(inst), max_violations=None))
    assert any(np.any(r.exact) for r in flint.values())  # some results were re-decided exactly
    for sid in fallback:
        for f in ("lhs", "rhs", "slack", "holds", "exact"):
            assert np.asarray(getattr(fallback[sid], f)).tolist() == np.asarray(getattr(flint[sid], f)).tolist(), (sid, f)


def test_flint_solve_on_a_hand_solved_chain():
    """From state 0 action 0 stays (reward 1), action 1 moves to absorbing state 1; the policy stays w.p. 1/2, gamma = 1/2:
    V0 = (1/2)/(1 - 1/4) = 2/3, and rho = (4/3, 2/3) from rho0 = (1, 0)."""
    mdp = MDP([[[1, 0], [0, 1]], [[0, 1], [0, 1]]], [[1, 0], [0, 0]], [1, 0], "1/2")
    sigma = to_flint(np.array([[Fraction(1, 2)] * 2] * 2, dtype=object))
    P, r, rho0, gamma = (to_flint(np.asarray(x, dtype=object)) for x in (mdp.P, mdp.r, mdp.rho0, mdp.gamma))
    V, rho = engine.values_and_occupancy(P, r, gamma, rho0, sigma)
    assert from_flint(V).tolist() == [Fraction(2, 3), 0]
    assert from_flint(rho).tolist() == [Fraction(4, 3), Fraction(2, 3)]


def test_from_flint_builds_normal_fractions():
    import flint

    values = np.array([flint.fmpq(-6, 4), flint.fmpq(0), flint.fmpq(10**30 + 1, 3**40)], dtype=object)
    back = from_flint(values).tolist()
    assert back == [Fraction(-3, 2), Fraction(0), Fraction(10**30 + 1, 3**40)]
    assert [hash(v) for v in back] == [hash(Fraction(-3, 2)), hash(0), hash(Fraction(10**30 + 1, 3**40))]
    assert str(back[0]) == "-3/2"


def test_statement_terms_are_fractions_unless_native():
    from toymdp.mdp.statement_terms import statement_terms

    inst = random_instances(np.random.default_rng(5), 4, 3, 2, 3, 3, exact=True)
    fallback, flint = _both_paths(lambda: statement_terms(evaluate(inst)))
    assert flint.values.keys() == fallback.values.keys()
    for name, (value, tags) in flint.values.items():
        assert np.asarray(value).tolist() == np.asarray(fallback.values[name][0]).tolist(), name
        assert all(type(v) is Fraction for v in np.asarray(value).reshape(-1).tolist()), name
    with use_flint(True):
        native = statement_terms(evaluate(inst), native=True)
    assert native.rational is not Fraction
    assert from_flint(np.asarray(native.values["eta_base"][0])).tolist() == np.asarray(fallback.values["eta_base"][0]).tolist()


def test_floats_straight_to_flint_are_the_fractions_of_to_exact():
    """Each float's binary value, and stochastic rows summing to exactly 1 with the residual on the largest entry."""
    from toymdp.mdp.numbers import float_to_flint, float_to_flint_stochastic, to_exact, to_exact_stochastic

    x = np.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    rows = from_flint(float_to_flint_stochastic(x))
    assert rows.tolist() == to_exact_stochastic(x).tolist()
    assert [sum(row, Fraction(0)) for row in rows.tolist()] == [1, 1, 1]
    assert rows[1].tolist() == [1, 0, 0]  # zeros stay zero
    # 0.1 + 0.2 + 0.7 in binary: the residual goes to 0.7's entry, the others keep their exact binary values
    assert rows[0, :2].tolist() == [Fraction(0.1), Fraction(0.2)] and rows[0, 2] == 1 - Fraction(0.1) - Fraction(0.2)
    assert from_flint(float_to_flint(np.array([-2.5, 0.1]))).tolist() == to_exact(np.array([-2.5, 0.1])).tolist()
    with pytest.raises(ValueError, match="NaN"):
        float_to_flint(np.array([np.nan]))


def test_exact_terms_of_a_float_instance_are_those_of_its_exact_conversion():
    """Terms computed from each float straight on FLINT rationals: the fractions of the pure-Python path on to_exact()."""
    from toymdp.mdp.statement_terms import exact_statement_terms, statement_terms

    rng = np.random.default_rng(13)
    for kind in ("generic", "sparse", "deterministic_base", "reach_only_new"):
        inst = random_batch(rng, kind, 5)
        with use_flint(False):
            expected = statement_terms(evaluate(inst.to_exact()))
        with use_flint(True):
            got = exact_statement_terms(inst)
        assert got.exact and got.rational is not Fraction and got.missing == expected.missing
        assert got.values.keys() == expected.values.keys()
        for name, (value, tags) in got.values.items():
            assert from_flint(np.asarray(value)).tolist() == np.asarray(expected.values[name][0]).tolist(), (kind, name)
            assert tags == expected.values[name][1]


def test_float_redecisions_on_flint_give_the_same_fractions():
    """Near ties of float batches re-decided exactly: the same results, tightness and worst pairs on both paths."""
    rng = np.random.default_rng(17)
    drawn = random_instances(rng, 10, 3, 2, 3, 3)
    batches = [Instance(drawn.mdp, drawn.family, drawn.pi, drawn.pi.copy()), random_batch(rng, "reach_only_new", 10)]

    def decide():
        return [check_all(evaluate(b), max_violations=None) for b in batches]

    fallback, flint = _both_paths(decide)
    assert any(np.any(r.exact) for r in flint[0].values())
    for a, b in zip(fallback, flint):
        assert a.keys() == b.keys()
        for sid in a:
            for f in ("lhs", "rhs", "slack", "holds", "exact", "vacuous", "pair"):
                assert np.asarray(getattr(a[sid], f)).tolist() == np.asarray(getattr(b[sid], f)).tolist(), (sid, f)
            ta, tb = (np.asarray(getattr(r[sid], "tightness"), dtype=float) for r in (a, b))
            np.testing.assert_array_equal(ta, tb)


@pytest.mark.parametrize("shapes", [((3, 8, 4), (3, 4, 5)), ((2, 1, 6, 4), (1, 3, 4, 3)), ((2, 2, 3), (2, 3, 2))])
def test_flint_matmul_equals_products_of_fractions(shapes):
    """engine.matmul on FLINT rationals (fmpq_mat above its size threshold, numpy's object product below it)
    gives the rationals of numpy's product of Fraction arrays, with broadcast batch axes."""
    rng = np.random.default_rng(len(shapes[0]))
    frac = lambda shape: np.vectorize(lambda a, b: Fraction(int(a), int(b)), otypes=[object])(  # noqa: E731
        rng.integers(-50, 50, shape), rng.integers(1, 60, shape)
    )
    a, b = frac(shapes[0]), frac(shapes[1])
    got = from_flint(engine.matmul(to_flint(a), to_flint(b)))
    want = a @ b
    assert got.shape == want.shape and all(x == y for x, y in zip(got.reshape(-1), want.reshape(-1)))


@pytest.mark.parametrize("flint_on", [True, False])
def test_exact_rows_give_the_terms_of_each_subset_converted_alone(flint_on):
    """Overlapping subsets of one ExactRows batch, read in turn (the later ones reuse policies solved for the earlier
    ones), have the terms of statement_terms(evaluate(subset.to_exact())) computed from scratch on fractions."""
    from toymdp.mdp.evaluation import ExactRows
    from toymdp.mdp.statement_terms import exact_rows_statement_terms, statement_terms

    rng = np.random.default_rng(19)
    for kind in ("generic", "deterministic_base", "one_state"):
        batch = random_batch(rng, kind, 7, exact=kind == "one_state")
        with use_flint(flint_on):
            shared = ExactRows(batch)
            subsets = [[1, 4], [0, 1, 2, 6], [4], [6, 5, 3]]
            got = [exact_rows_statement_terms(shared, rows) for rows in subsets]
            # the first subset reads only a base-policy quantity: the new policy is solved later, for what needs it,
            # and of the base policy only what eta needs (no advantages, no robustness)
            assert got[0].values["eta_j"][0].shape == (2, batch.family.num_renderers)
            computed = lambda policy: {f for f, mask in shared._done[policy].items() if mask.any()}  # noqa: E731
            assert computed("pi_tilde") == set() and computed("pi") == {"sigma", "V", "rho", "eta"}
        for rows, terms in zip(subsets, got):
            with use_flint(False):
                expected = statement_terms(evaluate(batch[np.array(rows)].to_exact()))
            assert terms.exact and terms.batch_shape == (len(rows),) and terms.missing == expected.missing
            for name, (value, tags) in expected.values.items():
                have = from_flint(np.asarray(terms.values[name][0]))
                assert have.tolist() == np.asarray(value).tolist(), (kind, rows, name)
                assert terms.values[name][1] == tags


def test_exact_values_become_the_nearest_floats():
    """exact_to_float on fractions and on FLINT rationals against Python's correctly rounded int / int, for
    numerators and denominators of up to 1,000 bits (as exact re-decisions of float instances produce)."""
    import flint

    from toymdp.mdp.numbers import exact_to_float

    rng = np.random.default_rng(11)
    pairs = []
    for bits in (8, 60, 200, 1000):
        for _ in range(200):
            p = int.from_bytes(rng.bytes(bits // 8 + 1), "little") >> 3
            q = (int.from_bytes(rng.bytes(bits // 8 + 1), "little") >> 3) | 1
            pairs.append((-p if rng.random() < 0.5 else p, q))
    expected = np.array([p / q for p, q in pairs] + [np.nan, 3.0])
    fractions = np.array([Fraction(p, q) for p, q in pairs] + [None, 3], dtype=object)
    fmpqs = np.array([flint.fmpq(p, q) for p, q in pairs] + [None, flint.fmpq(3)], dtype=object)
    for values in (fractions, fmpqs):
        got = exact_to_float(values)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)  # equal bit for bit (NaN where None)
    np.testing.assert_array_equal(exact_to_float(fmpqs.reshape(-1)[:4].reshape(2, 2)), expected[:4].reshape(2, 2))


@pytest.mark.parametrize("flint", [False, True])
def test_check_results_as_floats_are_the_fractions_rounded(flint):
    """check_all(floats=True) on the exact engine: the same decisions, and each number float() of the fraction
    check_all gives otherwise (Fraction.__float__, the standard library's rounding)."""
    batch = random_batch(np.random.default_rng(5), "generic", 8, exact=True)
    with use_flint(flint):
        fractions = check_all(evaluate(batch))
        floats = check_all(evaluate(batch), floats=True)
    assert fractions.keys() == floats.keys()
    for sid, a in fractions.items():
        b = floats[sid]
        np.testing.assert_array_equal(a.holds, b.holds)
        np.testing.assert_array_equal(a.vacuous, b.vacuous)
        for name in ("lhs", "rhs", "slack", "tightness"):
            want = np.array([np.nan if v is None else float(v) for v in np.asarray(getattr(a, name)).reshape(-1)])
            got = np.asarray(getattr(b, name))
            assert got.dtype == np.float64, (sid, name)
            np.testing.assert_array_equal(got.reshape(-1), want, err_msg=f"{sid} {name}")
