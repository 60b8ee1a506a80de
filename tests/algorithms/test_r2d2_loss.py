"""R2D2's loss against a NumPy re-computation over sequences that end every way (mid-episode, terminated,
truncated, padded), the burn-in's missing gradient, padding's missing gradient and priority, the frames path, and a
few Adam steps on a fixed batch."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rayrl.algorithms.r2d2.loss import burn_in_state, r2d2_loss
from rayrl.errors import RayrlError
from rayrl.models import RecurrentQNetwork
from rayrl.models.q_network import OnlineAndTarget

N, L, A, H, OBS = 5, 10, 3, 8, 3
BURN_IN, N_STEP, GAMMA, ETA, EPS = 3, 3, 0.9, 0.9, 1e-3


def make_model(obs_shape=(OBS,), seed=0):
    torch.manual_seed(seed)
    model = OnlineAndTarget(RecurrentQNetwork(gym.spaces.Box(0, 255, obs_shape), gym.spaces.Discrete(A), (16,),
                                              dueling=True, lstm_size=H))
    with torch.no_grad():  # a target network that differs from the online one, as it does between syncs
        for p in model.target.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def make_batch(seed=0):
    """Item 0 runs on past its end, 1 terminates at step 6, 2 is cut by a time limit (final observation at step 5),
    3 terminates at its last step, 4 terminates inside the burn-in (nothing left to train)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(N, L, dtype=torch.bool)
    terminated = torch.zeros(N, L, dtype=torch.bool)
    terminated[1, 6], mask[1, 7:] = True, False
    mask[2, 6:] = False
    terminated[3, L - 1] = True
    terminated[4, 1], mask[4, 2:] = True, False
    action = torch.randint(0, A, (N, L), generator=g)
    reward = 5 * torch.randn(N, L, generator=g)
    action[2, 5], reward[2, 5] = 0, 0.0  # the final observation's step
    prev_action = torch.cat([torch.randint(0, A, (N, 1), generator=g), action[:, :-1]], dim=1)
    prev_reward = torch.cat([torch.randn(N, 1, generator=g), reward[:, :-1]], dim=1)
    batch = {
        "obs": torch.randn(N, L, OBS, generator=g), "action": action, "reward": reward, "terminated": terminated,
        "mask": mask, "prev_action": prev_action, "prev_reward": prev_reward,
        "state_h": torch.randn(N, H, generator=g), "state_c": torch.randn(N, H, generator=g),
        "importance_weight": 0.5 + torch.rand(N, generator=g),
    }
    for key in ("obs", "action", "reward", "prev_action", "prev_reward"):  # padding is zeros
        batch[key][~mask] = 0
    return batch


def h(x):
    return np.sign(x) * (np.sqrt(np.abs(x) + 1) - 1) + EPS * x


def h_inv(x):
    return np.sign(x) * (((np.sqrt(1 + 4 * EPS * (np.abs(x) + 1 + EPS)) - 1) / (2 * EPS)) ** 2 - 1)


def unroll_step_by_step(network, batch):
    """Q-values [N, L, A] of each item, one step at a time from its stored state."""
    state, qs = (batch["state_h"], batch["state_c"]), []
    with torch.no_grad():
        for t in range(L):
            q, state = network.step(batch["obs"][:, t], batch["prev_action"][:, t], batch["prev_reward"][:, t], state)
            qs.append(q)
    return torch.stack(qs, dim=1).double().numpy()


def numpy_loss(model, batch):
    """The loss, written step by step: a transition out of step s exists iff mask[s] and (terminated[s] or
    mask[s + 1]); the n-step sum runs over transitions and bootstraps from the state after the last one."""
    q, q_target = unroll_step_by_step(model.online, batch), unroll_step_by_step(model.target, batch)
    b = {k: v.double().numpy() if v.is_floating_point() else v.numpy() for k, v in batch.items()}

    def transition(i, s):
        return s <= L - 2 and b["mask"][i, s] and (b["terminated"][i, s] or b["mask"][i, s + 1])

    td = np.zeros((N, L))
    for i in range(N):
        for t in range(BURN_IN, L - 1):
            if not transition(i, t):
                continue
            g, discount, boot = 0.0, 1.0, t
            for s in range(t, t + N_STEP):
                if not transition(i, s):
                    break
                g += discount * b["reward"][i, s]
                if b["terminated"][i, s]:
                    discount = 0.0
                    break
                discount *= GAMMA
                boot = s + 1
            g += discount * h_inv(q_target[i, boot, np.argmax(q[i, boot])])
            td[i, t] = h(g) - q[i, t, b["action"][i, t]]
    trained = np.array([[BURN_IN <= t and transition(i, t) for t in range(L)] for i in range(N)])
    loss = np.mean(b["importance_weight"] * 0.5 * (td**2).sum(axis=1))
    priorities = np.array([ETA * np.abs(td[i]).max() + (1 - ETA) * np.abs(td[i][trained[i]]).mean()
                           if trained[i].any() else 0.0 for i in range(N)])
    return loss, priorities, np.abs(td[trained]).mean()


def loss_of(model, batch, **overrides):
    kwargs = dict(burn_in=BURN_IN, n_step=N_STEP, gamma=GAMMA, priority_eta=ETA, rescale_eps=EPS) | overrides
    return r2d2_loss(model, batch, **kwargs)


def test_matches_the_numpy_recomputation():
    model, batch = make_model(), make_batch()
    out = loss_of(model, batch)
    want_loss, want_priorities, want_td_abs = numpy_loss(model, batch)
    np.testing.assert_allclose(float(out.loss.detach()), want_loss, rtol=1e-5)
    np.testing.assert_allclose(out.priorities.numpy(), want_priorities, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(out.metrics["td_error_abs"]), want_td_abs, rtol=1e-5)
    assert out.priorities.shape == (N,) and out.priorities[4] == 0 and (out.priorities[:4] > 0).all()
    assert set(out.metrics) == {"q_mean", "td_error_abs"}


def test_burn_in_takes_no_gradient():
    model, batch = make_model(), make_batch()
    batch["obs"].requires_grad_(True)
    batch["state_h"].requires_grad_(True)
    loss_of(model, batch).loss.backward()
    assert not batch["obs"].grad[:, :BURN_IN].any()
    assert batch["obs"].grad[0, BURN_IN].abs().sum() > 0
    assert batch["state_h"].grad is None


def test_padding_takes_no_gradient_and_leaves_loss_and_priorities_alone():
    model, batch = make_model(), make_batch()
    batch["obs"].requires_grad_(True)
    out = loss_of(model, batch)
    out.loss.backward()
    assert not batch["obs"].grad[~batch["mask"]].any()
    assert not batch["obs"].grad[2, 5].any(), "the final observation only bootstraps"
    g = torch.Generator().manual_seed(1)
    noisy = {k: v.detach().clone() for k, v in batch.items()}
    pad = ~batch["mask"]
    noisy["obs"][pad] = torch.randn(int(pad.sum()), OBS, generator=g)
    for key in ("reward", "prev_reward"):
        noisy[key][pad] = torch.randn(int(pad.sum()), generator=g)
    for key in ("action", "prev_action"):
        noisy[key][pad] = torch.randint(0, A, (int(pad.sum()),), generator=g)
    noisy_out = loss_of(model, noisy)
    torch.testing.assert_close(noisy_out.loss, out.loss.detach())
    torch.testing.assert_close(noisy_out.priorities, out.priorities)


def test_importance_weights_scale_each_sequence_and_leave_priorities_alone():
    model, batch = make_model(), make_batch()
    out = loss_of(model, batch)
    one_hot = [loss_of(model, batch | {"importance_weight": torch.eye(N)[i]}) for i in range(N)]
    want = sum(float(w) * float(o.loss.detach()) for w, o in zip(batch["importance_weight"], one_hot))
    np.testing.assert_allclose(float(out.loss.detach()), want, rtol=1e-5)
    for o in one_hot:
        torch.testing.assert_close(o.priorities, out.priorities)


def test_frames_are_stacked_into_the_observations():
    stack, side = 3, 4
    g = torch.Generator().manual_seed(2)
    batch = make_batch()
    frames = torch.randint(0, 256, (N, stack - 1 + L, side, side), dtype=torch.uint8, generator=g)
    stacked = torch.stack([frames[:, t : t + stack] for t in range(L)], dim=1)  # [N, L, S, side, side]
    model = make_model((stack, side, side))
    with_frames = {k: v for k, v in batch.items() if k != "obs"} | {"frames": frames}
    with_obs = batch | {"obs": stacked}
    a, b = loss_of(model, with_frames), loss_of(model, with_obs)
    torch.testing.assert_close(a.loss, b.loss)
    torch.testing.assert_close(a.priorities, b.priorities)


def test_burn_in_state_from_the_stored_state_or_zeros():
    model, batch = make_model(), make_batch()
    net = model.online
    h, c = burn_in_state(net, batch, burn_in=BURN_IN)
    state = (batch["state_h"], batch["state_c"])
    zeros = (torch.zeros(N, H), torch.zeros(N, H))
    for t in range(BURN_IN):
        args = (batch["obs"][:, t], batch["prev_action"][:, t], batch["prev_reward"][:, t])
        _, state = net.step(*args, state)
        _, zeros = net.step(*args, zeros)
    torch.testing.assert_close((h, c), state)
    torch.testing.assert_close(burn_in_state(net, batch, burn_in=BURN_IN, stored_state=False), zeros)
    zero_h, zero_c = burn_in_state(net, batch, burn_in=0, stored_state=False)
    assert zero_h.shape == (N, H) and not zero_h.any() and not zero_c.any()
    torch.testing.assert_close(burn_in_state(net, batch, burn_in=0), (batch["state_h"], batch["state_c"]))


@pytest.mark.parametrize("burn_in", [-1, L - 1])
def test_a_burn_in_that_leaves_nothing_to_train_is_a_one_line_error(burn_in):
    with pytest.raises(RayrlError, match="burn_in") as info:
        loss_of(make_model(), make_batch(), burn_in=burn_in)
    assert "\n" not in str(info.value)


def test_adam_steps_reduce_the_loss_on_a_fixed_batch():
    model, batch = make_model(), make_batch()
    optimizer = torch.optim.Adam(model.online.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = loss_of(model, batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses
