"""Options generated from configuration dataclasses (:mod:`repconv.options`): on a small example dataclass and on
the real ``procgen train``, ``procgen estimate``, ``procgen sweep``, ``toy`` and ``check`` parsers, parsing no
argument gives the dataclass defaults, every kind of flag reaches the config, ``--help`` shows every field's doc,
and bad values exit with status 2."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from common.fields import documented, field_doc
from repconv.cli import build_parser
from repconv.options import add_dataclass_arguments, dataclass_values


@dataclass(frozen=True)
class Example:
    count: int = documented(3, "how many things")
    big: int = documented(1000, "a large count")
    rate: float = documented(0.5, "a rate in %")
    name: str = documented("a", "a name")
    switch: bool = documented(True, "a switch")
    values: tuple[float, ...] = documented((0.0, 1.0), "some values")
    names: list[str] = documented(default_factory=lambda: ["x", "y"], help="some names")
    pair: tuple[float, float] | None = documented(None, "a pair; unset: none")
    mode: str = documented("fast", "how to run")


def _example_parser(**kw) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="example", exit_on_error=True)
    add_dataclass_arguments(parser, Example, whole_numbers=True, choices={"mode": ("fast", "slow")}, **kw)
    return parser


def _help(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_help().split())


def _exits_2(parse, argv, capsys, fragment: str) -> None:
    with pytest.raises(SystemExit) as info:
        parse(argv)
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- example dataclass
def test_example_no_arguments_give_the_defaults():
    args = _example_parser().parse_args([])
    assert Example(**dataclass_values(args, Example)) == Example(
        count=3, big=1000, rate=0.5, name="a", switch=True, values=(0.0, 1.0), names=["x", "y"], pair=None, mode="fast")


def test_example_every_kind_of_flag_reaches_the_config():
    argv = ["--count", "7", "--big", "25e6", "--rate", "0.25", "--name", "b", "--no-switch", "--values", "0, 0.5,,1",
            "--names", "p,q", "--pair", "1,2", "--mode", "slow"]
    config = Example(**dataclass_values(_example_parser().parse_args(argv), Example))
    assert config == Example(count=7, big=25_000_000, rate=0.25, name="b", switch=False, values=(0.0, 0.5, 1.0),
                             names=["p", "q"], pair=(1.0, 2.0), mode="slow")
    parse = _example_parser().parse_args
    assert parse(["--big", "25_000_000"]).big == 25_000_000
    assert parse(["--switch"]).switch is True
    assert parse(["--values", "none"]).values == () and parse(["--names", ""]).names == []


def test_example_bad_values_exit_2(capsys):
    parse = _example_parser().parse_args
    _exits_2(parse, ["--count", "x"], capsys, "argument --count: 'x' is not a whole number")
    _exits_2(parse, ["--big", "2.5"], capsys, "argument --big: '2.5' is not a whole number")
    _exits_2(parse, ["--values", "0,x"], capsys, "argument --values: cannot read '0,x', expected comma-separated numbers")
    _exits_2(parse, ["--pair", "1"], capsys, "argument --pair: expected 2 comma-separated numbers, got '1'")
    _exits_2(parse, ["--mode", "medium"], capsys, "argument --mode: invalid choice: 'medium'")


def test_example_help_shows_each_doc_and_default():
    text = _help(_example_parser())
    for expected in ("how many things (default: 3)", "a large count (default: 1000)", "a rate in % (default: 0.5)",
                     "--switch, --no-switch a switch (default: yes)", "some values (default: 0,1)",
                     "some names (default: x,y)", "a pair; unset: none", "{fast,slow}"):
        assert expected in text, expected
    assert "a pair; unset: none (default" not in text  # None is described by the doc, not printed


def test_example_unset_default_keeps_only_typed_values():
    parser = _example_parser(unset_default=True, default_note=lambda f: "the preset's")
    assert dataclass_values(parser.parse_args([]), Example, given_only=True) == {}
    assert dataclass_values(parser.parse_args(["--rate", "1", "--no-switch"]), Example, given_only=True) == {
        "rate": 1.0, "switch": False}
    assert "a rate in % (default: the preset's)" in _help(parser)


def test_a_field_without_doc_or_an_unknown_name_is_refused_when_the_parser_is_built():
    @dataclass
    class Undocumented:
        documented_one: int = documented(1, "has a doc")
        bare: int = 2

    with pytest.raises(ValueError, match="Undocumented.bare has no doc"):
        add_dataclass_arguments(argparse.ArgumentParser(), Undocumented)
    with pytest.raises(ValueError, match="no command-line field"):
        add_dataclass_arguments(argparse.ArgumentParser(), Example, only=("count", "nope"))
    with pytest.raises(ValueError, match="non-empty help"):
        documented(1, "")


# ------------------------------------------------------------------------------------------- the real parsers
def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _help_of(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit):
        _parse([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def _docs_shown(cls, text: str, skip=()) -> None:
    squeezed = "".join(text.split())  # argparse wraps lines, also after a hyphen
    for f in dataclasses.fields(cls):
        if f.name not in skip:
            assert "".join(field_doc(f).split()) in squeezed, f"{cls.__name__}.{f.name}"


TRAIN = ["procgen", "train", "--game", "coinrun", "--preset", "smoke", "--out", "run"]


def test_train_no_options_give_the_preset():
    from procgen_checks.config import RuntimeOptions, TrainConfig, make_config
    from repconv.commands.procgen_train_cmd import config_overrides

    args = _parse(TRAIN)
    assert config_overrides(args) == {}
    # The smoke preset written out by hand: the paper's protocol with these fields replaced.
    smoke = TrainConfig(game="coinrun", distribution_mode="easy", num_levels=10, total_steps=128, num_envs=4,
                        num_steps=16, num_minibatches=2, update_epochs=1)
    assert make_config(args.preset, game=args.game, **config_overrides(args)) == smoke
    assert RuntimeOptions(**dataclass_values(args, RuntimeOptions)) == RuntimeOptions(
        device="auto", torch_threads=None, env_threads=None, time_limit=None, checkpoint_every=10, progress=True)


def test_train_flags_reach_the_config_and_override_only_what_is_typed():
    from procgen_checks.config import RuntimeOptions, make_config
    from repconv.commands.procgen_train_cmd import config_overrides

    args = _parse([*TRAIN, "--algo", "mdpo", "--seed", "4", "--total-steps", "25e6", "--num-envs", "8",
                   "--no-norm-adv", "--learning-rate", "3e-4", "--distribution-mode", "hard", "--no-progress",
                   "--time-limit", "60", "--device", "cpu", "--torch-threads", "1"])
    assert config_overrides(args) == {"algo": "mdpo", "seed": 4, "total_steps": 25_000_000, "num_envs": 8,
                                      "norm_adv": False, "learning_rate": 3e-4, "distribution_mode": "hard"}
    config = make_config(args.preset, game=args.game, **config_overrides(args))
    assert (config.num_levels, config.num_steps, config.update_epochs, config.gamma) == (10, 16, 1, 0.999)
    assert RuntimeOptions(**dataclass_values(args, RuntimeOptions)) == RuntimeOptions(
        device="cpu", torch_threads=1, time_limit=60.0, progress=False)


def test_train_bad_values_exit_2(capsys):
    _exits_2(_parse, [*TRAIN, "--total-steps", "2.5"], capsys, "argument --total-steps: '2.5' is not a whole number")
    _exits_2(_parse, [*TRAIN, "--algo", "dqn"], capsys, "argument --algo: invalid choice: 'dqn'")
    _exits_2(_parse, [*TRAIN, "--gamma", "x"], capsys, "argument --gamma: invalid float value: 'x'")
    _exits_2(_parse, [*TRAIN, "--torch-threads", "1e0"], capsys, "argument --torch-threads: invalid int value")


def test_train_help_shows_every_field(capsys):
    from procgen_checks.config import RuntimeOptions, TrainConfig

    text = _help_of(["procgen", "train"], capsys)
    _docs_shown(TrainConfig, text, skip=("game",))  # --game has no default on the command line: a new run names it
    _docs_shown(RuntimeOptions, text)
    assert "Adam learning rate (constant, no annealing) (default: 0.0005)" in text
    assert "parallel environments per agent (default: the preset's; the paper's 64)" in text


def test_sweep_hyperparameters_override_only_what_is_typed():
    from repconv.commands.procgen_train_cmd import config_overrides

    sweep = ["procgen", "sweep", "--games", "coinrun", "--preset", "smoke", "--out", "s"]
    assert config_overrides(_parse(sweep)) == {}
    assert config_overrides(_parse([*sweep, "--gamma", "0.9", "--total-steps", "1_000"])) == {
        "gamma": 0.9, "total_steps": 1000}


ESTIMATE = ["procgen", "estimate", "a.pt", "--out", "o"]


def test_estimate_no_options_give_the_defaults():
    from procgen_checks.config import EstimateConfig

    assert EstimateConfig(**dataclass_values(_parse(ESTIMATE), EstimateConfig)) == EstimateConfig()


def test_estimate_flags_reach_the_config(capsys):
    from procgen_checks.config import EstimateConfig

    args = _parse([*ESTIMATE, "--renderers", "backgrounds, jitter", "--states", "8", "--strengths", "0,1",
                   "--gammas", "0.5,0.9", "--reward-range", "0,10", "--value-scale", "2", "--paper-states", "4",
                   "--bootstrap", "20", "--seed", "3"])
    config = EstimateConfig(**dataclass_values(args, EstimateConfig))
    assert config == EstimateConfig(renderers=["backgrounds", "jitter"], states=8, strengths=[0.0, 1.0],
                                    gammas=[0.5, 0.9], reward_range=(0.0, 10.0), value_scale=2.0,
                                    paper_metric_states=4, bootstrap_resamples=20, seed=3)
    _exits_2(_parse, [*ESTIMATE, "--reward-range", "1"], capsys, "argument --reward-range: expected 2 comma-separated")
    _exits_2(_parse, [*ESTIMATE, "--strengths", "0,x"], capsys, "argument --strengths: cannot read '0,x'")
    _exits_2(_parse, [*ESTIMATE, "--states", "x"], capsys, "argument --states: invalid int value: 'x'")


def test_estimate_help_shows_every_field(capsys):
    from procgen_checks.config import EstimateConfig

    text = _help_of(["procgen", "estimate"], capsys)
    _docs_shown(EstimateConfig, text, skip=("batch_size",))  # not an option: memory per forward pass only
    assert "--paper-states PAPER_STATES" in text and "(default: 0.5,0.8,0.9,0.95,0.98,0.99,0.995,0.999)" in text


def test_toy_no_options_give_the_defaults_and_flags_reach_the_config(capsys):
    from repconv.commands.toy_cmd import build_config
    from toymdp.toy_example.distillation import DistillationConfig
    from toymdp.toy_example.toy_experiment import SearchConfig, ToyExperimentConfig

    assert build_config(_parse(["toy"])) == ToyExperimentConfig()
    args = _parse(["toy", "--alphas", "0,0.5", "--seeds", "3", "--first-seed", "2", "--steps", "20",
                   "--learning-rate", "0.05", "--optimizer", "sgd", "--eval-every", "5", "--statements", "none",
                   "--gammas", "0.5", "--search-sizes", "2,3", "--search-restarts", "1"])
    assert build_config(args) == ToyExperimentConfig(
        alphas=(0.0, 0.5), seeds=3, first_seed=2, statements=(), gammas=(0.5,),
        train=DistillationConfig(steps=20, learning_rate=0.05, optimizer="sgd", eval_every=5),
        search=SearchConfig(num_states=(2, 3), restarts=1))
    assert build_config(_parse(["toy", "--no-search"])).search is None
    _exits_2(_parse, ["toy", "--optimizer", "rmsprop"], capsys, "argument --optimizer: invalid choice: 'rmsprop'")
    _exits_2(_parse, ["toy", "--steps", "1e3"], capsys, "argument --steps: invalid int value: '1e3'")
    _exits_2(_parse, ["toy", "--alphas", "0,x"], capsys, "argument --alphas: cannot read '0,x'")


def test_toy_help_shows_every_option_field(capsys):
    from toymdp.toy_example.distillation import DistillationConfig
    from toymdp.toy_example.toy_experiment import SearchConfig, ToyExperimentConfig

    text = _help_of(["toy"], capsys)
    _docs_shown(ToyExperimentConfig, text, skip=("train", "search", "confidence"))
    _docs_shown(DistillationConfig, text, skip=("init_scale",))
    assert f"{field_doc(dataclasses.fields(SearchConfig)[1])} (default: 2,3,4,5)" in text
    assert "distillation weights; must include 0 (independent training) (default: 0,0.01,0.03,0.1,0.3,1)" in text


def test_check_no_options_give_the_defaults_and_flags_reach_the_config(capsys):
    from toymdp.checking.falsification import CheckConfig

    assert CheckConfig(**dataclass_values(_parse(["check"]), CheckConfig)) == CheckConfig(
        n=1000, exact=False, seed=0, ids=None, max_redecide=5, restarts=2, iterations=30, population=24,
        hypothesis_examples=100)
    args = _parse(["check", "--n", "200", "--exact", "--seed", "7", "--hypothesis", "5", "--ids", "T1, G1",
                   "--max-redecide", "1", "--restarts", "0", "--iterations", "2", "--population", "3"])
    assert CheckConfig(**dataclass_values(args, CheckConfig)) == CheckConfig(
        n=200, exact=True, seed=7, ids=["T1", "G1"], max_redecide=1, restarts=0, iterations=2, population=3,
        hypothesis_examples=5)
    _exits_2(_parse, ["check", "--n", "x"], capsys, "argument --n: invalid int value: 'x'")
    text = _help_of(["check"], capsys)
    _docs_shown(CheckConfig, text)
    assert "--hypothesis EXAMPLES hypothesis examples (0 skips; needs the test extra) (default: 100)" in text
