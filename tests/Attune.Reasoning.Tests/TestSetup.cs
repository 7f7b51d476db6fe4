using System.Runtime.CompilerServices;
using Attune.Torch.Native;

namespace Attune.Reasoning.Tests;

internal static class TestSetup
{
    /// <summary>Settle oneMKL's code path (docs/torch.md) before any test touches TorchSharp, as the other model tests do.</summary>
#pragma warning disable CA2255 // The test assembly's own start-up, before xUnit runs any test.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void SettleMklCodePath() => MklFastPath.Ensure();
}
