using System.Runtime.InteropServices;
using Attune.Torch.Models;
using Attune.Torch.Native;
using static TorchSharp.torch;

namespace Attune.Torch.Tests;

/// <summary>
/// The decision and the code recognition of <see cref="MklFastPath"/>, and its outcome in this
/// process. That MKL then reports its AVX-512 path is checked from outside, in a child process
/// (Attune.Cli.Tests' <c>MklFastPathTests</c>).
/// </summary>
public class MklFastPathTests
{
    private const string AmdAvx512 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n";
    private const string AmdAvx2 = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n";
    private const string IntelAvx512 = "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl\n";

    [Fact]
    public void It_is_wanted_only_on_a_non_Intel_x86_64_Linux_CPU_with_AVX_512()
    {
        Assert.Null(MklFastPath.Decide(null, linuxX64: true, AmdAvx512));
        Assert.Equal(MklFastPathState.NotNeeded, MklFastPath.Decide(null, true, IntelAvx512)!.State);
        Assert.Equal(MklFastPathState.NotApplicable, MklFastPath.Decide(null, false, AmdAvx512)!.State);
        Assert.Equal(MklFastPathState.NotApplicable, MklFastPath.Decide(null, true, null)!.State);
        var avx2 = MklFastPath.Decide(null, true, AmdAvx2)!;
        Assert.Equal(MklFastPathState.NotApplicable, avx2.State);
        Assert.Contains("avx512f, avx512cd, avx512bw, avx512dq, avx512vl", avx2.Message, StringComparison.Ordinal);
        var noBw = MklFastPath.Decide(null, true, AmdAvx512.Replace(" avx512bw", "", StringComparison.Ordinal))!;
        Assert.Equal(MklFastPathState.NotApplicable, noBw.State);
        Assert.EndsWith("(AuthenticAMD without avx512bw); MKL left unchanged", noBw.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0", MklFastPathState.Disabled)]
    [InlineData("off", MklFastPathState.Disabled)]
    [InlineData("FALSE", MklFastPathState.Disabled)]
    [InlineData("maybe", MklFastPathState.Disabled)]
    [InlineData("1", null)]
    [InlineData("on", null)]
    [InlineData("true", null)]
    [InlineData("", null)]
    public void The_switch_turns_it_off(string value, MklFastPathState? expected)
    {
        Assert.Equal(expected, MklFastPath.Decide(value, true, AmdAvx512)?.State);
        Assert.Equal(expected ?? MklFastPathState.NotApplicable, MklFastPath.Decide(value, true, AmdAvx2)!.State);
    }

    [Fact]
    public void An_unrecognised_switch_value_is_named()
    {
        Assert.Equal("MKL fast path: off: ATTUNE_MKL_FAST_PATH='maybe' is not 0, 1, on, off, true or false", MklFastPath.Decide("maybe", true, AmdAvx512)!.Message);
    }

    [Fact]
    public void Only_the_known_code_of_the_vendor_check_is_recognised()
    {
        // The first bytes of mkl_serv_intel_cpu_true in libtorch-cpu-linux-x64 2.10.0's libtorch_cpu.so (objdump):
        // mov eax,[rip+0x998671a]; test eax,eax; js +1; ret — its answer lives at function + 6 + 0x998671a.
        byte[] known = [0x8B, 0x05, 0x1A, 0x67, 0x98, 0x09, 0x85, 0xC0, 0x78, 0x01, 0xC3, 0x53];
        Assert.Equal(6 + 0x0998671A, VendorCheckCode.CacheOffset(known));
        byte[] negative = [0x8B, 0x05, 0xF0, 0xFF, 0xFF, 0xFF, 0x85, 0xC0, 0x78, 0x01, 0xC3];
        Assert.Equal(6 - 16, VendorCheckCode.CacheOffset(negative));

        Assert.Null(VendorCheckCode.CacheOffset([0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3, 0x90, 0x90, 0x90, 0x90, 0x90]));   // mov eax,1; ret
        Assert.Null(VendorCheckCode.CacheOffset(known.AsSpan(0, 10)));
        for (var i = 0; i < VendorCheckCode.Length; i++)
        {
            if (i is >= 2 and < 6)
            {
                continue;   // the displacement may be anything
            }

            var changed = known.ToArray();
            changed[i] ^= 0x01;
            Assert.Null(VendorCheckCode.CacheOffset(changed));
        }
    }

    [Fact]
    public void Memory_maps_are_parsed_with_permissions_and_paths()
    {
        var maps = MemoryMaps.Parse(
            "7f0000000000-7f0000001000 r-xp 00000000 08:01 1234                       /opt/my libs/libtorch_cpu.so\n" +
            "7f0000001000-7f0000003000 rw-p 00001000 08:01 1234                       /opt/my libs/libtorch_cpu.so\n" +
            "7f0000003000-7f0000004000 rw-p 00000000 00:00 0 \n" +
            "not a mapping\n");
        Assert.Equal(3, maps.Count);
        Assert.Equal(("/opt/my libs/libtorch_cpu.so", true, false, true), (maps[0].Path, maps[0].Readable, maps[0].Writable, maps[0].Executable));
        Assert.True(maps[1].Writable);
        Assert.Equal("", maps[2].Path);
        Assert.Same(maps[1], MemoryMaps.Find(maps, unchecked((nint)0x7f0000002ffc)));
        Assert.Null(MemoryMaps.Find(maps, unchecked((nint)0x7f0000004000)));
    }

    [Fact]
    public void In_this_process_the_outcome_follows_the_cpu_and_the_switch()
    {
        // A float32 matmul through Attune.Torch (TestSetup settled the path before any test).
        using (var scope = NewDisposeScope())
        {
            using var projection = new Projection(64, 32, false);
            Assert.Equal([8L, 32], projection.forward(randn(8, 64)).shape);
        }

        var linux = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;
        var cpuinfo = linux ? File.ReadAllText("/proc/cpuinfo") : null;
        var expected = MklFastPath.Decide(Environment.GetEnvironmentVariable(MklFastPath.SwitchVariable), linux, cpuinfo);
        var outcome = MklFastPath.Outcome;
        Assert.True((expected?.State ?? MklFastPathState.Applied) == outcome.State, outcome.Message);
        if (expected is not null)
        {
            Assert.Equal(expected.Message, outcome.Message);   // nothing was attempted
        }

        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(outcome.Message, MklFastPath.Report());   // libtorch is loaded (read from /proc/self/maps)
        }

        Assert.Same(outcome, MklFastPath.Ensure());            // idempotent
    }
}
