namespace Attune.Alignment.Tests;

/// <summary>Torch tests seed torch's process-wide generator, so they do not run in parallel.</summary>
[CollectionDefinition("torch", DisableParallelization = true)]
public sealed class TorchCollection;
