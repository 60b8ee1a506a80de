"""Actor-critic loss terms: values and which inputs carry the gradient."""

import torch

from rayrl.ops import baseline_loss, entropy_loss, policy_gradient_loss


def test_policy_gradient_loss_sums_and_detaches_advantages():
    log_probs = torch.tensor([[-0.5, -1.0], [-2.0, -0.1]], requires_grad=True)
    advantages = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    loss = policy_gradient_loss(log_probs=log_probs, advantages=advantages)
    torch.testing.assert_close(loss, torch.tensor(-(-0.5 * 1.0 + -1.0 * -2.0 + -2.0 * 0.5 + -0.1 * 3.0)))
    loss.backward()
    torch.testing.assert_close(log_probs.grad, -advantages.detach())
    assert advantages.grad is None


def test_baseline_loss_is_half_sum_of_squares_with_detached_targets():
    targets = torch.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    values = torch.tensor([[0.0, 2.5], [1.0, 1.0]], requires_grad=True)
    loss = baseline_loss(targets=targets, values=values)
    torch.testing.assert_close(loss, torch.tensor(0.5 * (1.0 + 0.25 + 4.0 + 4.0)))
    loss.backward()
    torch.testing.assert_close(values.grad, values.detach() - targets.detach())
    assert targets.grad is None


def test_entropy_loss_is_negative_sum():
    entropy = torch.tensor([[0.3, 1.2], [0.0, 0.7]], requires_grad=True)
    loss = entropy_loss(entropy=entropy)
    torch.testing.assert_close(loss, torch.tensor(-2.2))
    loss.backward()
    torch.testing.assert_close(entropy.grad, -torch.ones(2, 2))
