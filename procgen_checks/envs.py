"""Procgen environments through ``procgen-mirror``'s gym3 interface.

* game names, with a clear error (and a suggestion) for an unknown one;
* level splits: training levels ``[start, start + n)`` and test levels drawn from a disjoint range;
* :class:`ProcgenVecEnv`: vectorised stepping that returns uint8 frames and keeps episode returns,
  lengths and level seeds of finished episodes;
* normalisation constants of Cobbe et al. (2020) for easy and hard modes.

gym3 semantics, kept here: ``observe()`` returns ``(reward, obs, first)`` where ``reward`` is the
reward of the last action and ``first[i]`` says that ``obs[i]`` starts a new episode, i.e. that the
last action ended the previous one.
"""

from __future__ import annotations

import contextlib
import difflib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "GAMES",
    "DISTRIBUTION_MODES",
    "NORMALIZATION_RANGES",
    "check_game",
    "normalized_score",
    "LevelRange",
    "level_split",
    "RenderOptions",
    "make_procgen",
    "ProcgenVecEnv",
    "EpisodeRecord",
]

GAMES = (
    "bigfish", "bossfight", "caveflyer", "chaser", "climber", "coinrun", "dodgeball", "fruitbot",
    "heist", "jumper", "leaper", "maze", "miner", "ninja", "plunder", "starpilot",
)
DISTRIBUTION_MODES = ("easy", "hard")

#: (R_min, R_max) per game and distribution mode, for (R - R_min) / (R_max - R_min) (Cobbe et al. 2020).
NORMALIZATION_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "easy": {
        "coinrun": (5, 10), "starpilot": (2.5, 64), "caveflyer": (3.5, 12), "dodgeball": (1.5, 19),
        "fruitbot": (-1.5, 32.4), "chaser": (0.5, 13), "miner": (1.5, 13), "jumper": (3, 10),
        "leaper": (3, 10), "maze": (5, 10), "bigfish": (1, 40), "heist": (3.5, 10),
        "climber": (2, 12.6), "plunder": (4.5, 30), "ninja": (3.5, 10), "bossfight": (0.5, 13),
    },
    "hard": {
        "coinrun": (5, 10), "starpilot": (1.5, 35), "caveflyer": (2, 13.4), "dodgeball": (1.5, 19),
        "fruitbot": (-0.5, 27.2), "chaser": (0.5, 14.2), "miner": (1.5, 20), "jumper": (1, 10),
        "leaper": (1.5, 10), "maze": (4, 10), "bigfish": (0, 40), "heist": (2, 10),
        "climber": (1, 12.6), "plunder": (3, 30), "ninja": (2, 10), "bossfight": (0.5, 13),
    },
}

NUM_ACTIONS = 15


def check_game(name: str) -> str:
    """Return ``name`` if it is a Procgen game, else raise a ``ValueError`` naming the known games."""
    if name in GAMES:
        return name
    close = difflib.get_close_matches(str(name), GAMES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown Procgen game {name!r}.{hint} Known games: {', '.join(GAMES)}")


def _check_mode(mode: str) -> str:
    if mode not in DISTRIBUTION_MODES:
        raise ValueError(f"unknown distribution mode {mode!r}; expected one of {', '.join(DISTRIBUTION_MODES)}")
    return mode


def normalized_score(game: str, mode: str, returns: Any) -> Any:
    """``(R - R_min) / (R_max - R_min)`` with the constants of the game and mode."""
    lo, hi = NORMALIZATION_RANGES[_check_mode(mode)][check_game(game)]
    return (np.asarray(returns, dtype=float) - lo) / (hi - lo)


@dataclass(frozen=True)
class LevelRange:
    """Procgen draws level seeds uniformly from ``[start, start + num)``."""

    start: int
    num: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.num <= 0:
            raise ValueError(f"level range start={self.start}, num={self.num}: expected start >= 0 and num >= 1")
        if self.start + self.num > 2**31 - 1:
            raise ValueError(f"level range [{self.start}, {self.start + self.num}) exceeds Procgen's seed range")

    @property
    def stop(self) -> int:
        return self.start + self.num

    def contains(self, seed: int) -> bool:
        return self.start <= seed < self.stop

    def overlaps(self, other: "LevelRange") -> bool:
        return self.start < other.stop and other.start < self.stop


#: Size of the test level range: large enough that test episodes almost never repeat a level.
TEST_LEVELS = 1_000_000


def level_split(num_train_levels: int, start_level: int = 0, num_test_levels: int = TEST_LEVELS) -> tuple[LevelRange, LevelRange]:
    """Training levels ``[start, start + n)`` and test levels right after them, disjoint by construction."""
    train = LevelRange(start_level, num_train_levels)
    return train, LevelRange(train.stop, num_test_levels)


@dataclass(frozen=True)
class RenderOptions:
    """Procgen options that change only the pixels (never dynamics or rewards, when in sync)."""

    use_backgrounds: bool = True
    restrict_themes: bool = False
    use_monochrome_assets: bool = False

    def as_kwargs(self) -> dict[str, bool]:
        return {
            "use_backgrounds": self.use_backgrounds,
            "restrict_themes": self.restrict_themes,
            "use_monochrome_assets": self.use_monochrome_assets,
        }


def _procgen_env_class():
    # procgen imports gym 0.26, which prints a deprecation banner on import; keep our output clean.
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        from procgen import ProcgenGym3Env
    return ProcgenGym3Env


def make_procgen(
    game: str,
    num_envs: int,
    levels: LevelRange,
    *,
    distribution_mode: str = "easy",
    rand_seed: int = 0,
    render: RenderOptions = RenderOptions(),
    num_threads: int | None = None,
):
    """A ``procgen.ProcgenGym3Env`` with validated arguments.

    ``num_threads``: Procgen's worker threads for stepping (``None``: Procgen's default, 4).
    """
    check_game(game)
    _check_mode(distribution_mode)
    if num_envs < 1:
        raise ValueError(f"num_envs is {num_envs}, expected >= 1")
    threads = {} if num_threads is None else {"num_threads": int(num_threads)}
    if num_threads is not None and num_threads < 0:
        raise ValueError(f"num_threads is {num_threads}, expected >= 0")
    cls = _procgen_env_class()
    return cls(
        num=num_envs,
        env_name=game,
        num_levels=levels.num,
        start_level=levels.start,
        distribution_mode=distribution_mode,
        rand_seed=int(rand_seed),
        **render.as_kwargs(),
        **threads,
    )


@dataclass(frozen=True)
class EpisodeRecord:
    env_index: int
    level_seed: int
    ret: float
    length: int


@dataclass
class ProcgenVecEnv:
    """Vectorised Procgen stepping with episode bookkeeping.

    ``reset()`` returns the first frames; ``step(actions)`` returns ``(obs, reward, done)`` where
    ``done[i]`` means the action ended env ``i``'s episode and ``obs[i]`` is already the next
    episode's first frame (Procgen resets itself). Finished episodes are appended to
    ``self.finished`` with their level seed, undiscounted return and length.
    """

    game: str
    num_envs: int
    levels: LevelRange
    distribution_mode: str = "easy"
    rand_seed: int = 0
    render: RenderOptions = field(default_factory=RenderOptions)
    num_threads: int | None = None

    def __post_init__(self) -> None:
        self.env = make_procgen(self.game, self.num_envs, self.levels, distribution_mode=self.distribution_mode,
                                rand_seed=self.rand_seed, render=self.render, num_threads=self.num_threads)
        self.finished: list[EpisodeRecord] = []
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)

    def level_seeds(self) -> np.ndarray:
        """Level seed of each environment's current episode."""
        return np.array([info["level_seed"] for info in self.env.get_info()], dtype=np.int64)

    def observe(self) -> np.ndarray:
        return self.env.observe()[1]["rgb"]

    def reset(self) -> np.ndarray:
        """The current frames (Procgen environments start on construction)."""
        return self.observe()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions have shape {actions.shape}, expected ({self.num_envs},)")
        self.env.act(actions.astype(np.int32))
        reward, obs, first = self.env.observe()
        self._returns += reward
        self._lengths += 1
        done = np.asarray(first, dtype=bool)
        if done.any():
            info = self.env.get_info()  # "prev_level_seed" is the level of the episode that just ended
            for i in np.flatnonzero(done):
                self.finished.append(EpisodeRecord(int(i), int(info[i]["prev_level_seed"]), float(self._returns[i]), int(self._lengths[i])))
                self._returns[i] = 0.0
                self._lengths[i] = 0
        return obs["rgb"], np.asarray(reward, dtype=np.float32), done

    def get_state(self) -> dict[str, Any]:
        """What continuing exactly needs: Procgen's per-environment states (which carry their random
        generators and render options) and the running sums of the unfinished episodes."""
        return {
            "procgen": list(self.env.callmethod("get_state")),
            "returns": self._returns.copy(),
            "lengths": self._lengths.copy(),
            "finished": [(e.env_index, e.level_seed, e.ret, e.length) for e in self.finished],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s result (from an environment with the same game and options)."""
        if len(state["procgen"]) != self.num_envs:
            raise ValueError(f"environment state holds {len(state['procgen'])} environments, expected {self.num_envs}")
        self.env.callmethod("set_state", list(state["procgen"]))
        self._returns = np.array(state["returns"], dtype=float)
        self._lengths = np.array(state["lengths"], dtype=np.int64)
        self.finished = [EpisodeRecord(int(i), int(s), float(r), int(n)) for i, s, r, n in state["finished"]]

    def pop_finished(self) -> list[EpisodeRecord]:
        out, self.finished = self.finished, []
        return out

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close:
            close()
