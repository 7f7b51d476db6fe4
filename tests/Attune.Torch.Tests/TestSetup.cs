using System.Runtime.CompilerServices;
using Attune.Torch.Native;

namespace Attune.Torch.Tests;

internal static class TestSetup
{
    /// <summary>
    /// Some tests call TorchSharp directly (e.g. <see cref="NativeLoadTests"/>), and xUnit runs test
    /// classes in no fixed order: settle oneMKL's code path (docs/torch.md) before any of them, so every
    /// test, the fixtures' parity tests included, runs on the path a user of Attune.Torch gets.
    /// </summary>
#pragma warning disable CA2255 // The test assembly's own start-up, before xUnit runs any test.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void SettleMklCodePath() => MklFastPath.Ensure();
}
