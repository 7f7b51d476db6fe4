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
        var hidden = model.Hidden(ids[.., ..^1]);                                   // [B, T-1, E]
        return ChunkedCrossEntropySum(model, hidden.reshape(-1, hidden.shape[2]), ids[.., 1..].reshape(-1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Σ cross-entropy of the output head over rows of <paramref name="hidden"/> [N, E] against
    /// <paramref name="targets"/> [N]: −Σ log p(target), computed by <see cref="LogProbs.TargetLogProbs"/>
    /// in row chunks whose logits stay under <paramref name="chunkLogitBytes"/>. Same value as one
    /// <c>cross_entropy</c> call (up to float summation order); faster on CPU because the [N, V]
    /// logits, their softmax and their gradients of a whole batch are each one allocation above
    /// glibc's mmap threshold (67 MB for 2,040 × 8,192), freshly mapped and page-faulted on every
    /// step, whereas chunks are reused from the heap (measured: docs/torch.md).
    /// </summary>
    public static Tensor ChunkedCrossEntropySum(CausalLM model, Tensor hidden, Tensor targets, long chunkLogitBytes = LogProbs.ChunkLogitBytes)
    {
        using var scope = NewDisposeScope();
        return LogProbs.TargetLogProbs(model, hidden, targets, chunkLogitBytes).sum().neg().MoveToOuterDisposeScope();
    }
}
