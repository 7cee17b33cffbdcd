"""States a policy visits: rollouts on training or test levels, with lockstep twins under other render options.

:func:`collect_rollout` runs the policy (actions sampled from ``pi(.|s)`` under the reference rendering,
with an explicit ``numpy.random.Generator``) in ``num_envs`` Procgen environments and records every
``stride``-th step's frame until ``num_states`` states are recorded. For each lockstep renderer a twin
environment with the same ``rand_seed``, levels and actions, differing only in render options, is
stepped alongside; :class:`~procgen_checks.renderers.LockstepSync` checks rewards, episode boundaries and
level seeds after every step, and a twin frame is kept only while its env index is still in sync.

After recording, stepping goes on (twins stopped) until every env has finished its first episode and the
episode that contains its last recorded state, or ``max_extra_steps`` more steps have passed; the policy
is evaluated only on envs that still need it. The full reward and episode-boundary streams are kept, so
returns-to-go and first-episode returns can be computed afterwards for any ``gamma``.

Array conventions: ``N`` recorded states, ``T`` steps, ``E`` envs, ``A`` actions. ``rewards[t, e]`` and
``dones[t, e]`` are the reward of the action taken at step ``t`` and whether it ended the episode (gym3's
``first`` flag of the next observation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from theory.quantities import kl, tv

from .envs import LevelRange, make_procgen
from .network import ActorCritic
from .renderers import (
    IMAGE_RENDERERS, LOCKSTEP_RENDERERS, REFERENCE_RENDER, DesyncEvent, ImageRenderer, LockstepSync, make_image_renderer,
)

__all__ = ["PolicyOutputs", "policy_outputs", "cosine_distance", "sample_actions", "LockstepFrames", "Rollout", "collect_rollout",
           "returns_to_go", "REFERENCE", "EpisodeDistances", "EpisodeRollout", "collect_episodes",
           "episode_render_seeds", "render_per_episode"]


@dataclass
class PolicyOutputs:
    """``probs (B, A)`` float64, ``features (B, 256)`` float32 encoder output, ``values (B,)`` or None."""

    probs: np.ndarray
    features: np.ndarray
    values: np.ndarray | None


def policy_outputs(model: ActorCritic, frames: np.ndarray | torch.Tensor, batch_size: int = 256) -> PolicyOutputs:
    """The policy's action distribution, encoder features and (with a critic) values, in batches.

    Probabilities are a float64 softmax of the logits, so that KL and TV of near-zero probabilities
    are not rounded away.
    """
    frames = torch.as_tensor(frames)
    probs, feats, vals = [], [], []
    with torch.inference_mode():
        for i in range(0, len(frames), batch_size):
            hidden = model.encoder(frames[i:i + batch_size])
            probs.append(torch.softmax(model.actor(hidden).double(), dim=-1).numpy())
            feats.append(hidden.numpy())
            if model.has_critic:
                vals.append(model.critic(hidden).squeeze(-1).double().numpy())
    A = model.actor.out_features
    return PolicyOutputs(
        np.concatenate(probs) if probs else np.zeros((0, A)),
        np.concatenate(feats) if feats else np.zeros((0, model.actor.in_features), dtype=np.float32),
        (np.concatenate(vals) if vals else np.zeros(0)) if model.has_critic else None,
    )


def cosine_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``1 - cos(x, y)`` over the last axis; two zero vectors are at distance 0, a zero and a non-zero at 1."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    dot = (x * y).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where((nx > 0) & (ny > 0), dot / (nx * ny), np.where((nx == 0) & (ny == 0), 1.0, 0.0))
    return 1.0 - np.clip(cos, -1.0, 1.0)


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``probs (B, A)``, by inverting the cumulative distribution at a uniform draw."""
    u = rng.random(len(probs))
    return np.minimum((np.cumsum(probs, axis=-1) < u[:, None]).sum(axis=-1), probs.shape[-1] - 1)


@dataclass
class LockstepFrames:
    """Twin frames of the recorded states under one lockstep renderer; ``valid[n]`` is False once desynced."""

    frames: np.ndarray
    valid: np.ndarray
    events: list[DesyncEvent]
    num_envs: int

    def desync_record(self) -> dict:
        return {
            "pairs": self.num_envs,
            "desynchronised_pairs": len(self.events),
            "states_kept": int(self.valid.sum()),
            "states_dropped": int((~self.valid).sum()),
            "events": [{"env_index": e.env_index, "step": e.step, "reason": e.reason} for e in self.events],
        }


@dataclass
class Rollout:
    """Recorded states of one policy on one level range (see the module docstring for shapes)."""

    split: str
    levels: LevelRange
    frames: np.ndarray
    outputs: PolicyOutputs
    actions: np.ndarray
    env_index: np.ndarray
    step: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    step_values: np.ndarray | None
    first_level_seeds: np.ndarray
    lockstep: dict[str, LockstepFrames] = field(default_factory=dict)
    episode: np.ndarray | None = None
    """``(N,)`` episode label of each recorded state (``env_index * 1_000_000 + episodes the env had finished``):
    the unit that bootstraps resample, since states of one episode are correlated"""

    @property
    def num_states(self) -> int:
        return len(self.frames)

    @property
    def num_envs_first_unfinished(self) -> int:
        """Envs whose first episode had not ended when the rollout stopped (left out of the returns)."""
        return int((~self.dones.any(axis=0)).sum())

    def first_episode_returns(self, gamma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Discounted return of each env's first episode (from step 0) and whether that episode finished."""
        G, complete = returns_to_go(self.rewards, self.dones, gamma)
        return G[0], complete[0]

    def state_returns_to_go(self, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """Return-to-go of every recorded state and whether its episode finished within the rollout."""
        G, complete = returns_to_go(self.rewards, self.dones, gamma)
        return G[self.step, self.env_index], complete[self.step, self.env_index]


def returns_to_go(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """``G[t, e] = r[t, e] + gamma (1 - done[t, e]) G[t + 1, e]`` and ``complete[t, e]``: the episode running
    at step ``t`` ended within the stream (otherwise ``G`` is truncated and must not be used)."""
    T = len(rewards)
    G = np.zeros(rewards.shape, dtype=float)
    complete = np.zeros(rewards.shape, dtype=bool)
    nxt = np.zeros(rewards.shape[1:])
    nxt_complete = np.zeros(rewards.shape[1:], dtype=bool)
    for t in range(T - 1, -1, -1):
        d = dones[t]
        nxt = rewards[t] + gamma * np.where(d, 0.0, nxt)
        nxt_complete = d | nxt_complete
        G[t], complete[t] = nxt, nxt_complete
    return G, complete


def _level_seeds(env) -> np.ndarray:
    return np.array([info["level_seed"] for info in env.get_info()], dtype=np.int64)


class _LockstepTwins:
    """The lockstep renderers' twin environments: each replays the reference's actions under its own rendering,
    with a :class:`LockstepSync` that drops an environment once the pair's levels or rewards disagree."""

    def __init__(self, game: str, names, num_envs: int, levels: LevelRange, distribution_mode: str, rand_seed: int):
        self.names = list(names)
        self.num_envs = num_envs
        self.envs = {name: make_procgen(game, num_envs, levels, distribution_mode=distribution_mode,
                                        rand_seed=rand_seed, render=LOCKSTEP_RENDERERS[name]) for name in self.names}
        self.syncs = {name: LockstepSync(num_envs) for name in self.names}
        self.obs: dict[str, Any] = {}
        self.recorded: dict[str, tuple[list, list]] = {name: ([], []) for name in self.names}

    def observe_first(self, first, seeds) -> None:
        for name, twin in self.envs.items():
            rew_b, self.obs[name], first_b = twin.observe()
            self.syncs[name].update(-1, np.zeros(self.num_envs), rew_b, first, first_b, seeds, _level_seeds(twin))

    def record(self) -> None:
        for name in self.names:
            self.recorded[name][0].append(self.obs[name]["rgb"].copy())
            self.recorded[name][1].append(self.syncs[name].alive.copy())

    def step(self, t: int, actions: np.ndarray, reward, first, seeds) -> None:
        for name, twin in self.envs.items():
            twin.act(actions.astype(np.int32))
            rew_b, self.obs[name], first_b = twin.observe()
            self.syncs[name].update(t, reward, rew_b, first, first_b, seeds, _level_seeds(twin))

    def frames(self, n: int, num_envs: int) -> dict[str, LockstepFrames]:
        return {name: LockstepFrames(np.concatenate(self.recorded[name][0])[:n],
                                     np.concatenate(self.recorded[name][1])[:n], list(self.syncs[name].events),
                                     num_envs)
                for name in self.names}

    def close(self) -> None:
        for e in self.envs.values():
            getattr(e, "close", lambda: None)()


class _RecordedStates:
    """The states recorded every ``stride`` steps (all environments at once) and where they came from."""

    def __init__(self):
        self.frames, self.actions, self.env, self.step, self.episode = [], [], [], [], []

    def add(self, frames: np.ndarray, actions: np.ndarray, t: int, finished_count: np.ndarray) -> None:
        E = len(actions)
        self.frames.append(frames.copy())
        self.actions.append(actions.copy())
        self.env.append(np.arange(E))
        self.step.append(np.full(E, t))
        self.episode.append(np.arange(E) * 1_000_000 + finished_count)


def _act(model: ActorCritic, frames: np.ndarray, need: np.ndarray, rng: np.random.Generator):
    """Actions sampled from the policy for the environments in ``need`` (0 for the others) and their values
    (NaN where not evaluated or without a critic)."""
    out = policy_outputs(model, frames[need])
    actions = np.zeros(len(need), dtype=np.int64)
    actions[need] = sample_actions(out.probs, rng)
    vals = np.full(len(need), np.nan)
    if out.values is not None:
        vals[need] = out.values
    return actions, vals


def _check_rollout_args(num_states: int, num_envs: int, stride: int, lockstep) -> None:
    if num_states < 1 or num_envs < 1 or stride < 1:
        raise ValueError(f"num_states={num_states}, num_envs={num_envs}, stride={stride}: each must be >= 1")
    for name in lockstep:
        if name not in LOCKSTEP_RENDERERS:
            raise ValueError(f"{name!r} is not a lockstep renderer; known: {', '.join(LOCKSTEP_RENDERERS)}")


def collect_rollout(
    model: ActorCritic,
    game: str,
    levels: LevelRange,
    *,
    split: str,
    num_states: int,
    num_envs: int = 16,
    stride: int = 4,
    lockstep: tuple[str, ...] | list[str] = (),
    distribution_mode: str = "easy",
    rand_seed: int = 0,
    rng: np.random.Generator,
    max_extra_steps: int = 1000,
    twin_rand_seed: int | None = None,
    batch_size: int = 256,
    progress: bool = True,
) -> Rollout:
    """Record ``num_states`` states visited by ``model`` (see the module docstring).

    ``twin_rand_seed`` (default: ``rand_seed``) exists to test the desync detection: a twin with another
    seed plays other levels and must be reported out of sync.
    """
    _check_rollout_args(num_states, num_envs, stride, lockstep)
    E = num_envs
    env = make_procgen(game, E, levels, distribution_mode=distribution_mode, rand_seed=rand_seed, render=REFERENCE_RENDER)
    twins = _LockstepTwins(game, lockstep, E, levels, distribution_mode,
                           rand_seed if twin_rand_seed is None else twin_rand_seed)
    _, obs, first = env.observe()
    seeds = _level_seeds(env)
    first_level_seeds = seeds.copy()
    twins.observe_first(first, seeds)

    record_blocks = math.ceil(num_states / E)
    record_len = (record_blocks - 1) * stride + 1
    recorded = _RecordedStates()
    finished_count = np.zeros(E, dtype=np.int64)
    rewards, dones, step_values = [], [], []
    # After the recording, each environment runs on until its first episode and its last recorded episode have
    # ended (or max_extra_steps), so that returns-to-go of recorded states are complete.
    first_done = np.zeros(E, dtype=bool)
    last_record_done = np.zeros(E, dtype=bool)
    bar = tqdm(total=record_blocks, desc=f"{game} {split} states", unit="block", disable=not progress, leave=False)
    t = 0
    while True:
        recording = t < record_len
        if not recording and ((first_done & last_record_done).all() or t >= record_len + max_extra_steps):
            break
        frames = obs["rgb"]
        need = np.ones(E, dtype=bool) if recording else ~(first_done & last_record_done)
        actions, vals = _act(model, frames, need, rng)
        if recording and t % stride == 0:
            recorded.add(frames, actions, t, finished_count)
            twins.record()
            last_record_done[:] = False
            bar.update(1)
        env.act(actions.astype(np.int32))
        reward, obs, first = env.observe()
        first = np.asarray(first, dtype=bool)
        if recording and twins.names:
            twins.step(t, actions, reward, first, _level_seeds(env))
        rewards.append(np.asarray(reward, dtype=float))
        dones.append(first)
        step_values.append(vals)
        first_done |= first
        last_record_done |= first
        finished_count += first
        t += 1
    bar.close()
    getattr(env, "close", lambda: None)()
    twins.close()

    n = num_states
    cat = lambda xs: np.concatenate(xs)[:n]  # noqa: E731
    frames = cat(recorded.frames)
    # The reference outputs are evaluated again in fixed batches of ``batch_size``: CPU convolutions may
    # round differently at other batch sizes (e.g. the acting batch of num_envs), and every rendering
    # of these frames is evaluated in the same batches, so that an identity rendering gives TV = 0 exactly.
    outputs = policy_outputs(model, frames, batch_size)
    return Rollout(
        split=split,
        levels=levels,
        frames=frames,
        outputs=outputs,
        actions=cat(recorded.actions),
        env_index=cat(recorded.env),
        step=cat(recorded.step),
        rewards=np.array(rewards),
        dones=np.array(dones),
        step_values=np.array(step_values) if model.has_critic else None,
        first_level_seeds=first_level_seeds,
        lockstep=twins.frames(n, E),
        episode=cat(recorded.episode),
    )


# ------------------------------------------------------------------------------------------------
# Whole first episodes under one rendering: the two arms of the measured rendering gap, and the
# visitation-weighted distances behind Rv_hat
# ------------------------------------------------------------------------------------------------

REFERENCE = "reference"


def episode_render_seeds(seq: np.random.SeedSequence, renderers: list[str] | tuple[str, ...], num_episodes: int) -> dict[str, np.ndarray]:
    """One seed per image renderer and episode: episode ``e`` of every arm draws its rendering from the same seed."""
    rng = np.random.default_rng(seq)
    return {name: rng.integers(0, 2**63 - 1, size=num_episodes) for name in renderers}


def render_per_episode(renderer: ImageRenderer, frames: np.ndarray, seeds: np.ndarray) -> torch.Tensor:
    """``renderer`` applied to frame ``i`` with a generator seeded by ``seeds[i]``: one draw fixed per episode.

    Rendering the frames of one episode with its own seed at every step repeats the same random convolution
    (or colour jitter) for the whole episode; another episode (another seed) gets a fresh draw.
    """
    frames = torch.as_tensor(frames)
    return torch.cat([renderer(frames[i:i + 1], np.random.default_rng(int(s))) for i, s in enumerate(seeds)])


@dataclass
class EpisodeDistances:
    """Per-state distances between ``pi(.|f_ref(s))`` and ``pi(.|f_k(s))`` on the recorded states of whole episodes.

    ``episode[n]``, ``step[n]``: the episode (env index) of state ``n`` and its step within that episode (the
    episode starts at step 0). ``desynced[e]``: the lockstep pair of episode ``e`` lost sync before it ended; its
    states are left out (its recorded values are not used).
    """

    tv: np.ndarray
    kl: np.ndarray
    feature_cosine: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    desynced: np.ndarray
    events: list[DesyncEvent] = field(default_factory=list)


@dataclass
class EpisodeRollout:
    """The first episode of each of ``E`` environments, the policy acting under the rendering ``acting``.

    ``rewards[e, t]``: reward of the ``t``-th action of episode ``e`` (0 after its end); ``lengths[e]``: its number
    of steps; ``finished[e]``: it ended within ``max_steps``; ``level_seeds[e]``: its level. ``distances[k]``
    (reference arm only): per-state distances to renderer ``k`` on every ``stride``-th state of each episode.
    """

    acting: str
    levels: LevelRange
    level_seeds: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    finished: np.ndarray
    stride: int
    distances: dict[str, EpisodeDistances] = field(default_factory=dict)

    def returns(self, gamma: float = 1.0) -> np.ndarray:
        """``sum_t gamma^t r_t`` of each episode (``gamma = 1``: undiscounted)."""
        return self.rewards @ (float(gamma) ** np.arange(self.rewards.shape[1]))


def collect_episodes(
    model: ActorCritic,
    game: str,
    levels: LevelRange,
    *,
    num_episodes: int,
    acting: str = REFERENCE,
    compare: tuple[str, ...] | list[str] = (),
    render_seeds: dict[str, np.ndarray] | None = None,
    distribution_mode: str = "easy",
    rand_seed: int = 0,
    rng: np.random.Generator,
    stride: int = 1,
    max_steps: int = 1000,
    batch_size: int = 256,
    twin_rand_seed: int | None = None,
    progress: bool = False,
) -> EpisodeRollout:
    """Run the first episode of ``num_episodes`` environments to its end with ``model`` acting under ``acting``.

    ``acting``: ``"reference"`` (the training rendering), a lockstep renderer (the environments use its render
    options) or an image renderer (one draw per episode from ``render_seeds[acting][e]``). Environments with the
    same ``rand_seed`` and levels start on the same level seeds whatever the render options, so two arms with one
    ``rand_seed`` play the same levels episode by episode (the caller checks ``level_seeds``).

    ``compare`` (reference arm only): renderers whose per-state distances are measured on every ``stride``-th
    state of each episode while the policy acts under the reference rendering. A lockstep renderer runs a twin
    environment with the same actions, checked by :class:`LockstepSync` after every step; an image renderer uses
    the episode's draw from ``render_seeds``. ``twin_rand_seed`` exists to test the desync detection.
    """

    if num_episodes < 1 or stride < 1 or max_steps < 1:
        raise ValueError(f"num_episodes={num_episodes}, stride={stride}, max_steps={max_steps}: each must be >= 1")
    if compare and acting != REFERENCE:
        raise ValueError("per-state distances are measured only while acting under the reference rendering")
    images_needed = [n for n in (acting, *compare) if n in IMAGE_RENDERERS]
    for name in images_needed:
        if render_seeds is None or len(render_seeds.get(name, ())) != num_episodes:
            raise ValueError(f"image renderer {name!r} needs one render seed per episode ({num_episodes})")
    for name in (acting, *compare):
        if name != REFERENCE and name not in LOCKSTEP_RENDERERS and name not in IMAGE_RENDERERS:
            raise ValueError(f"unknown renderer {name!r}")
    E = num_episodes
    render = LOCKSTEP_RENDERERS.get(acting, REFERENCE_RENDER)
    env = make_procgen(game, E, levels, distribution_mode=distribution_mode, rand_seed=rand_seed, render=render)
    twin_seed = rand_seed if twin_rand_seed is None else twin_rand_seed
    lockstep = [n for n in compare if n in LOCKSTEP_RENDERERS]
    images = {n: make_image_renderer(n, 1.0) for n in images_needed}
    twins = {n: make_procgen(game, E, levels, distribution_mode=distribution_mode, rand_seed=twin_seed,
                             render=LOCKSTEP_RENDERERS[n]) for n in lockstep}
    syncs = {n: LockstepSync(E) for n in lockstep}
    _, obs, first = env.observe()
    level_seeds = _level_seeds(env)
    twin_obs = {}
    for n, twin in twins.items():
        rew_b, twin_obs[n], first_b = twin.observe()
        syncs[n].update(-1, np.zeros(E), rew_b, first, first_b, level_seeds, _level_seeds(twin))
    rewards = np.zeros((E, max_steps))
    lengths = np.full(E, max_steps, dtype=np.int64)
    active = np.ones(E, dtype=bool)
    rec: dict[str, dict[str, list]] = {n: {k: [] for k in ("tv", "kl", "feature_cosine", "episode", "step")} for n in compare}
    bar = tqdm(total=E, desc=f"{game} episodes ({acting})", unit="episode", disable=not progress, leave=False)
    for t in range(max_steps):
        idx = np.flatnonzero(active)
        frames = obs["rgb"][idx]
        if acting in images:
            frames = render_per_episode(images[acting], frames, render_seeds[acting][idx])
        out = policy_outputs(model, frames, batch_size)
        actions = np.zeros(E, dtype=np.int64)
        actions[idx] = sample_actions(out.probs, rng)
        if t % stride == 0:
            for n in compare:
                keep = idx if n in images else idx[syncs[n].alive[idx]]
                if keep.size == 0:
                    continue
                if n in images:
                    other = policy_outputs(model, render_per_episode(images[n], obs["rgb"][keep], render_seeds[n][keep]),
                                           batch_size)
                    p, f = out.probs, out.features
                else:
                    other = policy_outputs(model, twin_obs[n]["rgb"][keep], batch_size)
                    sel = np.isin(idx, keep)
                    p, f = out.probs[sel], out.features[sel]
                r = rec[n]
                r["tv"].append(tv(p, other.probs))
                r["kl"].append(kl(p, other.probs))
                r["feature_cosine"].append(cosine_distance(f, other.features))
                r["episode"].append(keep)
                r["step"].append(np.full(keep.size, t))
        env.act(actions.astype(np.int32))
        reward, obs, first = env.observe()
        first = np.asarray(first, dtype=bool)
        rewards[idx, t] = np.asarray(reward, dtype=float)[idx]
        if twins:
            seeds_a = _level_seeds(env)
            for n, twin in twins.items():
                twin.act(actions.astype(np.int32))
                rew_b, twin_obs[n], first_b = twin.observe()
                # only envs still in their first episode are compared: the others no longer matter
                rew_b = np.where(active, rew_b, reward)
                first_b = np.where(active, first_b, first)
                syncs[n].update(t, reward, rew_b, first, first_b, seeds_a, np.where(active, _level_seeds(twin), seeds_a))
        ended = active & first
        lengths[ended] = t + 1
        active &= ~first
        bar.update(int(ended.sum()))
        if not active.any():
            break
    bar.close()
    for e in (env, *twins.values()):
        getattr(e, "close", lambda: None)()
    distances = {}
    for n in compare:
        r = {k: np.concatenate(v) if v else np.zeros(0) for k, v in rec[n].items()}
        desynced = ~syncs[n].alive if n in syncs else np.zeros(E, dtype=bool)
        distances[n] = EpisodeDistances(r["tv"], r["kl"], r["feature_cosine"], r["episode"].astype(np.int64),
                                        r["step"].astype(np.int64), desynced, list(syncs[n].events) if n in syncs else [])
    return EpisodeRollout(acting, levels, level_seeds, rewards[:, :int(lengths.max())], lengths, ~active, stride, distances)
