"""PPO and MDPO on Procgen, as the paper's public code runs them.

Shapes: a rollout holds ``T = num_steps`` steps of ``N = num_envs`` environments; per-step arrays
are ``(T, N)``, frames ``(T, N, 64, 64, 3)`` uint8. ``dones[t, i] = 1`` means that frame ``t`` of
env ``i`` starts a new episode (the action at ``t - 1`` ended the previous one), as in CleanRL: the
*episode starts* convention, converted to episode ends for :func:`procgen_checks.advantages.gae`.

Per agent and minibatch the loss is (CleanRL's ``ppo_procgen``)::

    L = L_clip + value_coef * L_value - entropy_coef * H            (PPO)
    L_k = L_clip,k + value_coef * L_value,k - entropy_coef * H_k
          + alpha * KL(pi_peer(.|s) || pi_k(.|s)),  s ~ agent k's own minibatch     (MDPO)

with ``KL(p || q) = sum_a p_a (log(p_a + eps) - log(q_a + eps))``. The peer's probabilities are
*not* detached: the KL term of agent 1 also moves agent 2 and vice versa. MDPO minimises
``(L_1 + L_2) / 2`` with one Adam optimiser over both agents, one shared minibatch index, and clips
each agent's gradient norm separately. Both agents have their own environments with the same
``rand_seed``.

Rewards are divided by ``sqrt(Var[G] + 1e-8)``, where ``G`` is each environment's running discounted
return (reset at episode ends) and ``Var`` a running variance over all of them, then clipped;
episode statistics use the raw rewards.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .advantages import episode_ends_from_starts, gae
from .config import CPU_UPDATE_CHUNK, TrainConfig, check_update_chunk
from .envs import LevelRange, ProcgenVecEnv
from .network import FRAME_SHAPE, ActorCritic

__all__ = [
    "RunningMeanStd",
    "RewardNormalizer",
    "RolloutStorage",
    "normalize_advantages",
    "clipped_policy_loss",
    "clipped_value_loss",
    "peer_kl",
    "explained_variance",
    "Trainer",
    "TRAIN_STATE_FORMAT",
    "CPU_UPDATE_CHUNK",
    "default_update_chunk",
]

TRAIN_STATE_FORMAT = "repconv-procgen-train-state-v1"


class RunningMeanStd:
    """Mean and variance of a stream of scalars, updated a batch at a time.

    The parallel update of Chan, Golub and LeVeque (1979): merging ``(mean, var, count)`` with a
    batch's ``(m_b, v_b, n_b)`` gives ``delta = m_b - mean``, ``n = count + n_b``,
    ``mean' = mean + delta n_b / n``, ``var' = (var count + v_b n_b + delta^2 count n_b / n) / n``.
    Initial values ``mean 0, var 1, count 1e-4`` are those of OpenAI baselines' ``RunningMeanStd``,
    which the reward normalisation of the paper's code (gym's ``NormalizeReward``) uses. Written out
    here because gym does not run on numpy 2 and the maths is four lines.
    """

    def __init__(self, epsilon: float = 1e-4):
        self.mean = 0.0
        self.var = 1.0
        self.count = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64).reshape(-1)
        batch_mean, batch_var, batch_count = float(batch.mean()), float(batch.var()), batch.size
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        self.var = (self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total) / total
        self.count = total

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.var, self.count = float(state["mean"]), float(state["var"]), float(state["count"])


class RewardNormalizer:
    """Reward scaling of the paper's code: ``clip(r / sqrt(Var[G] + eps), -c, c)``.

    ``G_i <- gamma G_i + r_i`` per environment; the variance is updated with all ``G_i`` before the
    division, and ``G_i`` is reset to 0 where the step ended an episode. With ``enabled=False`` the
    rewards are only clipped.
    """

    def __init__(self, num_envs: int, gamma: float, clip: float, enabled: bool = True, epsilon: float = 1e-8):
        self.gamma, self.clip, self.enabled, self.epsilon = gamma, clip, enabled, epsilon
        self.returns = np.zeros(num_envs)
        self.return_rms = RunningMeanStd()

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        reward = np.asarray(reward, dtype=np.float64)
        if self.enabled:
            self.returns = self.returns * self.gamma + reward
            self.return_rms.update(self.returns)
            reward = reward / np.sqrt(self.return_rms.var + self.epsilon)
            self.returns[np.asarray(done, dtype=bool)] = 0.0
        return np.clip(reward, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"returns": self.returns.copy(), "return_rms": self.return_rms.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.returns = np.array(state["returns"], dtype=np.float64)
        self.return_rms.load_state_dict(state["return_rms"])


class RolloutStorage:
    """One agent's rollout on ``device``: frames as uint8 (a quarter of float32's memory)."""

    def __init__(self, num_steps: int, num_envs: int, device: torch.device | str = "cpu"):
        shape = (num_steps, num_envs)
        self.obs = torch.zeros(shape + FRAME_SHAPE, dtype=torch.uint8, device=device)
        self.actions = torch.zeros(shape, dtype=torch.long, device=device)
        self.log_probs = torch.zeros(shape, device=device)
        self.values = torch.zeros(shape, device=device)
        self.rewards = torch.zeros(shape, device=device)
        self.dones = torch.zeros(shape, device=device)
        self.advantages = torch.zeros(shape, device=device)
        self.returns = torch.zeros(shape, device=device)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.Tensor)}

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors().values())

    def flat(self) -> dict[str, torch.Tensor]:
        """Every tensor with the (T, N) axes merged into one sample axis (views, no copies)."""
        return {k: v.reshape((-1,) + tuple(v.shape[2:])) for k, v in self.tensors().items()}


def normalize_advantages(advantages: torch.Tensor, eps: float) -> torch.Tensor:
    """``(A - mean) / (std + eps)`` with the unbiased (n - 1) std, as the paper's code."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def clipped_policy_loss(
    new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""PPO's clipped surrogate, to minimise: :math:`\mathrm{mean}\,\max(-A\rho, -A\,\mathrm{clip}(\rho, 1-c, 1+c))`
    with :math:`\rho = \exp(\log\pi_{new} - \log\pi_{old})`. Returns ``(loss, ratio)``."""
    ratio = (new_log_prob - old_log_prob).exp()
    loss = torch.max(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
    return loss, ratio


def clipped_value_loss(
    new_value: torch.Tensor, old_value: torch.Tensor, returns: torch.Tensor, clip: float, clipped: bool = True
) -> torch.Tensor:
    r""":math:`\frac12 \mathrm{mean}\,\max((V - R)^2, (V_{old} + \mathrm{clip}(V - V_{old}, -c, c) - R)^2)`
    (without the second term when ``clipped`` is False)."""
    unclipped = (new_value - returns) ** 2
    if not clipped:
        return 0.5 * unclipped.mean()
    moved = old_value + torch.clamp(new_value - old_value, -clip, clip)
    return 0.5 * torch.max(unclipped, (moved - returns) ** 2).mean()


def peer_kl(p_peer: torch.Tensor, p_self: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r"""MDPO's distillation term :math:`\mathrm{mean}_s \sum_a p_{peer}(\log(p_{peer} + \epsilon) - \log(p_{self} + \epsilon))`,
    i.e. :math:`KL(\pi_{peer} \| \pi_{self})` on ``(B, A)`` probabilities. Gradients flow into both arguments."""
    return (p_peer * ((p_peer + eps).log() - (p_self + eps).log())).sum(-1).mean()


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """``1 - Var[target - predicted] / Var[target]`` (NaN when the target is constant)."""
    var = target.var(unbiased=False).item()
    return float("nan") if var == 0 else 1.0 - (target - predicted).var(unbiased=False).item() / var


@dataclass
class AgentRun:
    """One agent's model, environments and everything that carries over between iterations."""

    model: ActorCritic
    env: ProcgenVecEnv
    storage: RolloutStorage
    reward_normalizer: RewardNormalizer
    next_obs: torch.Tensor
    next_done: torch.Tensor
    recent: deque = field(default_factory=deque)  # (return, length) of the last finished episodes
    env_steps: int = 0
    episodes: int = 0


def default_update_chunk(device: torch.device | str) -> int:
    """Samples per pass of the update: :data:`CPU_UPDATE_CHUNK` on a CPU, the whole minibatch (``0``) on a GPU, where
    large batches keep it busy."""
    return CPU_UPDATE_CHUNK if torch.device(device).type == "cpu" else 0


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """PPO (one agent) or MDPO (two agents) with the paper's loss, optimiser and data flow.

    ``iterate()`` collects one rollout per agent and updates; ``state_dict()`` / ``from_state()``
    save and restore everything (models, optimiser, environments, reward normalisers, episode
    statistics, random generators, counters), so that a resumed run continues exactly.
    """

    def __init__(self, config: TrainConfig, device: torch.device | str = "cpu", env_threads: int | None = None,
                 update_chunk: int | None = None):
        """``update_chunk``: samples of each agent's minibatch per forward and backward pass of the update (``0``: the
        whole minibatch; default :func:`default_update_chunk` of the device). It changes the loss and gradients only by
        float round-off (the gradients of the chunks are summed), and how fast and in how much memory they are
        computed."""
        self.config = config
        self.device = torch.device(device)
        self.env_threads = env_threads
        check_update_chunk(update_chunk)
        self.update_chunk: int = default_update_chunk(self.device) if update_chunk is None else update_chunk
        _seed_everything(config.seed)
        if config.torch_deterministic:
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        levels = LevelRange(config.start_level, config.num_levels)
        self.agents = [self._make_agent(levels) for _ in range(config.num_agents)]
        params = [p for agent in self.agents for p in agent.model.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=config.learning_rate, eps=config.adam_eps)
        # Explicit generators: minibatch order (numpy) and action sampling (torch, on the device).
        self.shuffle_rng = np.random.default_rng(config.seed)
        self.action_generator = torch.Generator(device=self.device)
        self.action_generator.manual_seed(config.seed)
        self.iteration = 0
        self.last_iteration_seconds: float | None = None

    def _make_agent(self, levels: LevelRange) -> AgentRun:
        c = self.config
        model = ActorCritic().to(self.device)
        env = ProcgenVecEnv(c.game, c.num_envs, levels, distribution_mode=c.distribution_mode, rand_seed=c.seed,
                            num_threads=self.env_threads)
        return AgentRun(
            model=model,
            env=env,
            storage=RolloutStorage(c.num_steps, c.num_envs, self.device),
            reward_normalizer=RewardNormalizer(c.num_envs, c.gamma, c.reward_clip, enabled=c.normalize_reward),
            next_obs=torch.from_numpy(env.reset()).to(self.device),
            next_done=torch.zeros(c.num_envs, device=self.device),
            recent=deque(maxlen=c.stats_window),
        )

    # ------------------------------------------------------------------ rollouts
    def _collect(self, agent: AgentRun) -> dict[str, float]:
        c, st = self.config, agent.storage
        agent.model.eval()
        iteration_returns = []
        for t in range(c.num_steps):
            st.obs[t].copy_(agent.next_obs)
            st.dones[t].copy_(agent.next_done)
            with torch.inference_mode():
                logits, value = agent.model(agent.next_obs)
                log_probs = torch.log_softmax(logits, dim=-1)
                action = torch.multinomial(log_probs.exp(), 1, generator=self.action_generator).squeeze(1)
                st.actions[t].copy_(action)
                st.log_probs[t].copy_(log_probs.gather(1, action[:, None]).squeeze(1))
                st.values[t].copy_(value)
            obs, reward, done = agent.env.step(action.cpu().numpy())
            st.rewards[t].copy_(torch.from_numpy(agent.reward_normalizer(reward, done)))
            agent.next_obs = torch.from_numpy(obs).to(self.device)
            agent.next_done = torch.from_numpy(done.astype(np.float32)).to(self.device)
            for episode in agent.env.pop_finished():
                agent.recent.append((episode.ret, episode.length))
                iteration_returns.append(episode.ret)
        agent.env_steps += c.batch_size
        agent.episodes += len(iteration_returns)
        with torch.inference_mode():
            next_value = agent.model(agent.next_obs)[1]
            ends = episode_ends_from_starts(st.dones.cpu().numpy(), agent.next_done.cpu().numpy())
            advantages = gae(st.rewards.cpu().numpy(), st.values.cpu().numpy(), ends, next_value.cpu().numpy(),
                             c.gamma, c.gae_lambda)
            st.advantages.copy_(torch.from_numpy(advantages))
            st.returns.copy_(st.advantages + st.values)
        recent = np.array(agent.recent, dtype=float).reshape(-1, 2)
        return {
            "episodes": len(iteration_returns),
            "return_iter": float(np.mean(iteration_returns)) if iteration_returns else float("nan"),
            "return_recent": float(recent[:, 0].mean()) if len(recent) else float("nan"),
            "length_recent": float(recent[:, 1].mean()) if len(recent) else float("nan"),
        }

    # ------------------------------------------------------------------ update
    def _agent_terms(self, c: TrainConfig, batch: dict[str, torch.Tensor], mb: torch.Tensor, advantages: torch.Tensor,
                     logits: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """PPO loss of one agent on the samples ``mb`` given its network outputs there and their advantages
        (normalised over the whole minibatch when ``c.norm_adv``)."""
        log_probs = torch.log_softmax(logits, dim=-1)
        new_log_prob = log_probs.gather(1, batch["actions"][mb][:, None]).squeeze(1)
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
        pg_loss, ratio = clipped_policy_loss(new_log_prob, batch["log_probs"][mb], advantages, c.clip_coef)
        v_loss = clipped_value_loss(value, batch["values"][mb], batch["returns"][mb], c.clip_coef, c.clip_value_loss)
        loss = pg_loss + c.value_coef * v_loss - c.entropy_coef * entropy
        with torch.no_grad():
            log_ratio = new_log_prob - batch["log_probs"][mb]
            stats = {
                "policy_loss": pg_loss.detach(),
                "value_loss": v_loss.detach(),
                "entropy": entropy.detach(),
                "approx_kl": ((ratio - 1) - log_ratio).mean(),  # the k3 estimator of KL(old || new)
                "clip_frac": ((ratio - 1).abs() > c.clip_coef).float().mean(),
            }
        return loss, stats

    def _update(self) -> list[dict[str, float]]:
        c = self.config
        batches = [agent.storage.flat() for agent in self.agents]
        for agent in self.agents:
            agent.model.train()
        index = np.arange(c.batch_size)
        sums: list[dict[str, torch.Tensor]] = [dict() for _ in self.agents]
        count = 0
        for _ in range(c.update_epochs):
            self.shuffle_rng.shuffle(index)
            for start in range(0, c.batch_size, c.minibatch_size):
                mb = torch.from_numpy(index[start:start + c.minibatch_size]).to(self.device)
                advantages = [batch["advantages"][mb] for batch in batches]
                if c.norm_adv:  # over the whole minibatch, before it is split into chunks
                    advantages = [normalize_advantages(a, c.adv_norm_eps) for a in advantages]
                self.optimizer.zero_grad(set_to_none=True)
                # Every loss term is a mean over the minibatch's samples: the minibatch's gradient is the sum of its
                # chunks' gradients, each chunk's mean weighted by its share of the samples.
                chunk = self.update_chunk or len(mb)
                for lo in range(0, len(mb), chunk):
                    part = slice(lo, lo + chunk)
                    samples = mb[part]
                    loss, all_stats = self._loss(c, batches, samples, [a[part] for a in advantages])
                    share = len(samples) / len(mb)
                    if share != 1:
                        loss = loss * share
                        all_stats = [{key: value * share for key, value in stats.items()} for stats in all_stats]
                    loss.backward()
                    for total, stats in zip(sums, all_stats):
                        for key, value in stats.items():
                            total[key] = total.get(key, 0) + value
                for agent in self.agents:
                    nn.utils.clip_grad_norm_(agent.model.parameters(), c.max_grad_norm)
                self.optimizer.step()
                count += 1
        out = []
        for agent, batch, total in zip(self.agents, batches, sums):
            row = {key: value.item() / count for key, value in total.items()}
            row["explained_variance"] = explained_variance(batch["values"], batch["returns"])
            out.append(row)
        return out

    def _loss(self, c: TrainConfig, batches: list[dict[str, torch.Tensor]], mb: torch.Tensor,
              advantages: list[torch.Tensor]) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """The loss on the samples ``mb`` (of each agent's rollout) and each agent's statistics there: PPO's, or
        MDPO's."""
        if len(self.agents) > 1:
            return self._mdpo_loss(c, batches, mb, advantages)
        logits, value = self.agents[0].model(batches[0]["obs"][mb])
        loss, stats = self._agent_terms(c, batches[0], mb, advantages[0], logits, value)
        return loss, [stats]

    def _mdpo_loss(self, c: TrainConfig, batches: list[dict[str, torch.Tensor]], mb: torch.Tensor,
                   advantages: list[torch.Tensor]):
        """``(L_1 + L_2) / 2``; each agent sees its own and its peer's minibatch frames in one forward pass."""
        m = mb.numel()
        frames = torch.cat([batches[0]["obs"][mb], batches[1]["obs"][mb]])
        logits_1, value_1 = self.agents[0].model(frames)  # agent 1 on [own states; agent 2's states]
        logits_2, value_2 = self.agents[1].model(frames)  # agent 2 on [agent 1's states; own states]
        own = [(logits_1[:m], value_1[:m]), (logits_2[m:], value_2[m:])]
        probs_1, probs_2 = torch.softmax(logits_1, dim=-1), torch.softmax(logits_2, dim=-1)
        # KL(pi_peer || pi_self) on the agent's own states; the peer's probabilities keep their gradient.
        kls = [peer_kl(probs_2[:m], probs_1[:m], c.kl_eps), peer_kl(probs_1[m:], probs_2[m:], c.kl_eps)]
        losses, all_stats = [], []
        for k in range(2):
            loss, stats = self._agent_terms(c, batches[k], mb, advantages[k], *own[k])
            losses.append(loss + c.alpha * kls[k])
            stats["kl_peer"] = kls[k].detach()
            all_stats.append(stats)
        return 0.5 * (losses[0] + losses[1]), all_stats

    # ------------------------------------------------------------------ one iteration
    def iterate(self) -> dict[str, Any]:
        """Collect a rollout per agent, update, and return the iteration's log row."""
        start = time.perf_counter()
        rollout = [self._collect(agent) for agent in self.agents]
        collected = time.perf_counter()
        losses = self._update()
        done = time.perf_counter()
        self.iteration += 1
        self.last_iteration_seconds = done - start
        steps = self.config.batch_size * len(self.agents)
        row: dict[str, Any] = {
            "iteration": self.iteration,
            "env_steps": self.agents[0].env_steps,  # per agent
            "total_env_steps": sum(a.env_steps for a in self.agents),
            "steps_per_s": steps / (done - start),
            "rollout_s": collected - start,
            "update_s": done - collected,
        }
        for k, (r, l) in enumerate(zip(rollout, losses), start=1):
            row.update({f"agent{k}_{key}": value for key, value in {**r, **l}.items()})
        return row

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        rng = {
            "python": random.getstate(),
            "numpy_global": np.random.get_state(),
            "torch_cpu": torch.get_rng_state(),
            "shuffle": self.shuffle_rng.bit_generator.state,
            "action": self.action_generator.get_state(),
            "device_type": self.device.type,
        }
        if self.device.type == "cuda":
            rng["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": TRAIN_STATE_FORMAT,
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "last_iteration_seconds": self.last_iteration_seconds,
            "update_chunk": self.update_chunk,
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "agents": [
                {
                    "model": {k: v.detach().cpu() for k, v in agent.model.state_dict().items()},
                    "env": agent.env.get_state(),
                    "next_obs": agent.next_obs.cpu(),
                    "next_done": agent.next_done.cpu(),
                    "reward_normalizer": agent.reward_normalizer.state_dict(),
                    "recent": list(agent.recent),
                    "env_steps": agent.env_steps,
                    "episodes": agent.episodes,
                }
                for agent in self.agents
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("format") != TRAIN_STATE_FORMAT:
            raise ValueError(f"not a {TRAIN_STATE_FORMAT} training state")
        if TrainConfig.from_dict(state["config"]).num_agents != len(self.agents):
            raise ValueError("training state was written for another algorithm (number of agents differs)")
        for agent, saved in zip(self.agents, state["agents"]):
            agent.model.load_state_dict(saved["model"])
            agent.env.set_state(saved["env"])
            agent.next_obs = saved["next_obs"].to(self.device)
            agent.next_done = saved["next_done"].to(self.device)
            # Procgen renders the restored state: it must be the frame the run was about to act on.
            if not np.array_equal(agent.env.observe(), saved["next_obs"].numpy()):
                raise RuntimeError("restored Procgen state renders a different frame than the saved one; "
                                   "the environment build differs from the one that wrote the state")
            agent.reward_normalizer.load_state_dict(saved["reward_normalizer"])
            agent.recent = deque((tuple(x) for x in saved["recent"]), maxlen=self.config.stats_window)
            agent.env_steps, agent.episodes = int(saved["env_steps"]), int(saved["episodes"])
        self.optimizer.load_state_dict(state["optimizer"])
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy_global"])
        torch.set_rng_state(rng["torch_cpu"])
        self.shuffle_rng.bit_generator.state = rng["shuffle"]
        if rng["device_type"] == self.device.type:
            self.action_generator.set_state(rng["action"])
            if "torch_cuda" in rng:
                torch.cuda.set_rng_state(rng["torch_cuda"], self.device)
        else:
            # Another device type has another generator: continue with a fresh, seeded stream.
            self.action_generator.manual_seed(self.config.seed * 1_000_003 + int(state["iteration"]))
        self.iteration = int(state["iteration"])
        self.last_iteration_seconds = state.get("last_iteration_seconds")

    @classmethod
    def from_state(cls, state: dict[str, Any], device: torch.device | str = "cpu", env_threads: int | None = None,
                   config: TrainConfig | None = None, update_chunk: int | None = None) -> "Trainer":
        """A trainer continuing ``state``; ``config`` may differ from the saved one only in ``total_steps``. It updates
        in the saved run's chunks (a state written before they existed: whole minibatches) unless ``update_chunk`` is
        given, so that it continues the run bit for bit on the same device."""
        saved = TrainConfig.from_dict(state["config"])
        if config is not None:
            differing = [k for k, v in config.to_dict().items() if k != "total_steps" and saved.to_dict()[k] != v]
            if differing:
                raise ValueError(f"cannot resume with a changed {', '.join(differing)} (only total_steps may change)")
        chunk = update_chunk if update_chunk is not None else int(state.get("update_chunk", 0))
        trainer = cls(config or saved, device=device, env_threads=env_threads, update_chunk=chunk)
        trainer.load_state_dict(state)
        return trainer

    def close(self) -> None:
        for agent in self.agents:
            agent.env.close()
