using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Attune.Torch.Training;

/// <summary>Gradient utilities.</summary>
public static class Gradients
{
    /// <summary>
    /// The global L2 norm of all gradients, and, when <paramref name="maxNorm"/> is positive and the
    /// norm exceeds it, every gradient scaled by maxNorm / (norm + 1e-6) — PyTorch's
    /// <c>clip_grad_norm_</c>. Returns the norm before clipping.
    /// </summary>
    public static double ClipGlobalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = parameters.Select(p => p.grad).OfType<Tensor>().ToList();
        if (grads.Count == 0)
        {
            return 0;
        }

        var norms = stack([.. grads.Select(g => g.norm())]);
        var total = norms.norm().item<float>();
        if (maxNorm > 0 && total > maxNorm)
        {
            var coefficient = maxNorm / (total + 1e-6);
            foreach (var g in grads)
            {
                g.mul_(coefficient);
            }
        }

        return total;
    }
}
