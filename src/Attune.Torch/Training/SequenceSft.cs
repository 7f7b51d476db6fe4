using Attune.Torch.Models;
using static TorchSharp.torch;

namespace Attune.Torch.Training;

/// <summary>
/// A plain SFT loop for the small models the reproductions train in-process: each step draws a batch of
/// (prompt, response) token sequences, takes the mean negative log-likelihood of the response tokens, and
/// makes one AdamW step (no weight decay, no clipping, constant rate). No checkpoints or metrics file:
/// use <see cref="SftTrainer"/> for that. Leaves the model in evaluation mode.
/// </summary>
public static class SequenceSft
{
    /// <summary>Runs <paramref name="steps"/> steps; returns the loss per response token of every step.</summary>
    public static List<double> Run(CausalLM model, Func<IReadOnlyList<SequencePair>> nextBatch, int steps, double learningRate, int padId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(nextBatch);
        using var optimizer = new AdamW(AdamW.DecayGroups(model.UniqueNamedParameters(), 0), new AdamWOptions { WeightDecay = 0 });
        var losses = new List<double>(steps);
        model.train();
        for (var step = 0; step < steps; step++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var batch = nextBatch();
            using var logps = LogProbs.Response(model, batch, padId);
            var loss = -logps.Sum.sum() / batch.Sum(b => b.Response.Length);
            loss.backward();
            optimizer.Step(learningRate);
            optimizer.ZeroGrad();
            losses.Add(loss.item<float>());
        }

        model.eval();
        NativeMemory.Trim();
        return losses;
    }
}
