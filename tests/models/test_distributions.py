"""Categorical and DiagGaussian against torch.distributions, and their samplers against their own densities."""

import pytest
import torch

from rayrl.models import Categorical, DiagGaussian

SHAPES = [(5,), (3, 4), (2, 3, 5)]  # [N], [T, B] and a deeper leading shape
N_DRAWS = 40_000


def random_params(leading: tuple[int, ...], num_params: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*leading, num_params, generator=torch.Generator().manual_seed(seed))


def gaussian_params(leading: tuple[int, ...], action_dim: int, seed: int = 0) -> torch.Tensor:
    """Means in N(0, 4) and log-stds in [-1.5, 1.5], inside DiagGaussian's clamp range [-20, 2]."""
    mean, raw = random_params(leading, 2 * action_dim, seed).chunk(2, dim=-1)
    return torch.cat([2 * mean, 1.5 * torch.tanh(raw)], dim=-1)


def gaussian_truth(params: torch.Tensor) -> torch.distributions.Normal:
    mean, log_std = params.chunk(2, dim=-1)
    return torch.distributions.Normal(mean, log_std.exp())


@pytest.mark.parametrize("leading", SHAPES)
def test_categorical_log_prob_and_entropy_match_torch(leading):
    logits = random_params(leading, 6)
    truth = torch.distributions.Categorical(logits=logits)
    actions = truth.sample()
    dist = Categorical(6)
    torch.testing.assert_close(dist.log_prob(logits, actions), truth.log_prob(actions))
    torch.testing.assert_close(dist.entropy(logits), truth.entropy())


@pytest.mark.parametrize("leading", SHAPES)
def test_diag_gaussian_log_prob_and_entropy_match_torch_summed_over_action_dims(leading):
    params = gaussian_params(leading, 3)
    truth = gaussian_truth(params)
    actions = truth.sample()
    dist = DiagGaussian(3)
    torch.testing.assert_close(dist.log_prob(params, actions), truth.log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(params), truth.entropy().sum(-1))


def test_diag_gaussian_clamps_log_std_to_minus_20_and_2():
    params = torch.tensor([[0.5, -1.0, 5.0, -30.0]])
    clamped = torch.tensor([[0.5, -1.0, 2.0, -20.0]])
    actions = torch.tensor([[1.0, -1.0 + 1e-9]])
    dist = DiagGaussian(2)
    torch.testing.assert_close(dist.log_prob(params, actions), gaussian_truth(clamped).log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(params), gaussian_truth(clamped).entropy().sum(-1))


def test_categorical_log_prob_accepts_int32_actions():
    logits = random_params((4,), 3)
    actions = torch.tensor([0, 1, 2, 1])
    dist = Categorical(3)
    torch.testing.assert_close(dist.log_prob(logits, actions.int()), dist.log_prob(logits, actions))


@pytest.mark.parametrize(
    "dist, num_params, action_tail, dtype",
    [(Categorical(5), 5, (), torch.int64), (DiagGaussian(2), 4, (2,), torch.float32)],
    ids=["categorical", "diag_gaussian"],
)
@pytest.mark.parametrize("leading", SHAPES)
def test_sample_and_greedy_shapes_and_dtypes(dist, num_params, action_tail, dtype, leading):
    params = random_params(leading, num_params)
    for actions in (dist.sample(params), dist.greedy(params)):
        assert actions.shape == leading + action_tail
        assert actions.dtype == dtype == dist.action_dtype
    assert dist.num_params == num_params and dist.action_shape == action_tail


def test_categorical_sample_frequencies_match_softmax():
    torch.manual_seed(0)
    logits = torch.tensor([1.5, -0.5, 0.0, 0.7])
    actions = Categorical(4).sample(logits.expand(N_DRAWS, 4))
    freqs = torch.bincount(actions, minlength=4).float() / N_DRAWS
    torch.testing.assert_close(freqs, torch.softmax(logits, -1), atol=0.01, rtol=0)


def test_categorical_sample_never_picks_a_masked_out_action():
    torch.manual_seed(0)
    logits = torch.tensor([0.0, -1e9, 0.0]).expand(N_DRAWS, 3)
    assert not (Categorical(3).sample(logits) == 1).any()


def test_diag_gaussian_sample_mean_and_std_match_params():
    torch.manual_seed(0)
    mean, log_std = torch.tensor([1.0, -2.0]), torch.tensor([-1.0, 0.5])
    samples = DiagGaussian(2).sample(torch.cat([mean, log_std]).expand(N_DRAWS, 4))
    torch.testing.assert_close(samples.mean(0), mean, atol=0.03, rtol=0)
    torch.testing.assert_close(samples.std(0), log_std.exp(), atol=0, rtol=0.02)


@pytest.mark.parametrize("dist, num_params", [(Categorical(4), 4), (DiagGaussian(2), 4)], ids=["cat", "gauss"])
def test_entropy_is_the_mean_negative_log_prob_of_own_samples(dist, num_params):
    torch.manual_seed(0)
    params = random_params((3, 1), num_params).expand(3, N_DRAWS, num_params)
    nll = -dist.log_prob(params, dist.sample(params)).mean(1)
    torch.testing.assert_close(nll, dist.entropy(params[:, 0]), atol=0.03, rtol=0)


def test_greedy_is_the_mode():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    torch.testing.assert_close(Categorical(3).greedy(logits), torch.tensor([1, 0]))
    params = torch.tensor([[0.3, -0.7, 1.0, -2.0]])
    torch.testing.assert_close(DiagGaussian(2).greedy(params), torch.tensor([[0.3, -0.7]]))
