using Attune.Torch.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Attune.Torch.Training;

/// <summary>
/// Plain language modelling: every token of a fixed-length sequence predicts the next. Micro-batch
/// i of epoch e holds sequences of T + 1 ids produced by <see cref="Sequences"/> (the model reads the first T) (e.g. windows of a corpus, or
/// random ids for a benchmark); the loss is the summed next-token cross-entropy.
/// </summary>
public sealed class CausalLmObjective(int microBatchesPerEpoch, Func<int, int, long[,]> sequences, Device? device = null) : ITrainingObjective<long[,]>
{
    public int MicroBatchesPerEpoch => microBatchesPerEpoch;

    /// <summary>Token ids [B, T] of micro-batch (epoch, index).</summary>
    public Func<int, int, long[,]> Sequences => sequences;

    public long[,] MicroBatch(int epoch, int index) => sequences(epoch, index);

    public long LossTokens(long[,] batch) => batch.GetLength(0) * (long)(batch.GetLength(1) - 1);

    public long InputTokens(long[,] batch) => LossTokens(batch);   // the model reads T - 1 tokens of each row

    public Tensor LossSum(CausalLM model, long[,] batch)
    {
        using var scope = NewDisposeScope();
        var ids = tensor(batch, device: device ?? model.Device);                    // [B, T]
        var logits = model.Forward(ids[.., ..^1]);                                  // [B, T-1, V]
        var loss = F.cross_entropy(logits.reshape(-1, logits.shape[2]), ids[.., 1..].reshape(-1), reduction: nn.Reduction.Sum);
        return loss.MoveToOuterDisposeScope();
    }
}
