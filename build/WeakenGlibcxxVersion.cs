// An MSBuild task (compiled by RoslynCodeTaskFactory, see Directory.Build.targets) that lets
// TorchSharp's native library load on systems whose libstdc++ predates GLIBCXX_3.4.32
// (Debian 12, Ubuntu 22.04).
//
// libLibTorchSharp.so lists GLIBCXX_3.4.32 among the versions it needs from libstdc++.so.6.
// The only symbol bound to that version is std::ios_base_library_init, which the library never
// calls. The dynamic loader refuses a library whose needed version is missing, unless the
// requirement is marked weak (VER_FLG_WEAK in its Vernaux entry): then it only notes it. This
// task sets that one flag in copies of the library in the build output, only when the system's
// libstdc++ lacks the version, and leaves every other byte as it was.
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenGlibcxxVersion : Task
{
    [Required]
    public ITaskItem[] Libraries { get; set; }

    public string Version { get; set; } = "GLIBCXX_3.4.32";

    public override bool Execute()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
        {
            return true;
        }

        if (SystemHasVersion(Version))
        {
            Log.LogMessage(MessageImportance.Low, "libstdc++ provides {0}; TorchSharp's native library is left as it is.", Version);
            return true;
        }

        foreach (var item in Libraries)
        {
            var path = item.ItemSpec;
            try
            {
                var bytes = File.ReadAllBytes(path);
                var changed = WeakenNeed(bytes, Version);
                if (changed == 0)
                {
                    continue;
                }

                var temp = path + ".weakening";
                File.WriteAllBytes(temp, bytes);
                // A rename, not a copy over the file: the output file may be a hard link into the
                // NuGet cache (CreateHardLinksForCopyLocalIfPossible), which must stay as it was.
                File.Delete(path);
                File.Move(temp, path);
                Log.LogMessage(MessageImportance.Normal, "Marked {0} weak in {1} (the system libstdc++ lacks it).", Version, path);
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Log.LogWarning("Could not mark {0} weak in {1}: {2}", Version, path, ex.Message);
            }
        }

        return !Log.HasLoggedErrors;
    }

    private static bool SystemHasVersion(string version)
    {
        var needle = Encoding.ASCII.GetBytes(version + "\0");
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64" })
        {
            var lib = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(lib))
            {
                return IndexOf(File.ReadAllBytes(lib), needle) >= 0;
            }
        }

        return true; // No libstdc++ found where we look: do not touch anything.
    }

    /// <summary>Sets VER_FLG_WEAK on every Vernaux entry named <paramref name="version"/>; returns how many changed.</summary>
    internal static int WeakenNeed(byte[] elf, string version)
    {
        const uint ShtGnuVerneed = 0x6ffffffe;
        const ushort VerFlgWeak = 0x2;
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
        {
            throw new InvalidDataException("not an ELF file");
        }

        if (elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException("only 64-bit little-endian ELF files are handled");
        }

        var shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        var changed = 0;
        for (var i = 0; i < shnum; i++)
        {
            var sh = checked((int)(shoff + ((long)i * shentsize)));
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed)
            {
                continue;
            }

            var offset = checked((int)BitConverter.ToUInt64(elf, sh + 0x18));
            var link = BitConverter.ToUInt32(elf, sh + 0x28);
            var count = BitConverter.ToUInt32(elf, sh + 0x2C); // sh_info: number of Verneed entries
            var strSh = checked((int)(shoff + ((long)link * shentsize)));
            var strOffset = checked((int)BitConverter.ToUInt64(elf, strSh + 0x18));

            var need = offset;
            for (uint n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, need + 2);
                var aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (var a = 0; a < auxCount; a++)
                {
                    var name = ReadString(elf, strOffset + (int)BitConverter.ToUInt32(elf, aux + 8));
                    var flags = BitConverter.ToUInt16(elf, aux + 4);
                    if (name == version && (flags & VerFlgWeak) == 0)
                    {
                        var weak = (ushort)(flags | VerFlgWeak);
                        elf[aux + 4] = (byte)(weak & 0xff);
                        elf[aux + 5] = (byte)(weak >> 8);
                        changed++;
                    }

                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }

                var next = BitConverter.ToUInt32(elf, need + 12);
                if (next == 0)
                {
                    break;
                }

                need += (int)next;
            }
        }

        return changed;
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (var i = 0; i <= haystack.Length - needle.Length; i++)
        {
            var j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j])
            {
                j++;
            }

            if (j == needle.Length)
            {
                return i;
            }
        }

        return -1;
    }

    private static string ReadString(byte[] bytes, int start)
    {
        var end = Array.IndexOf(bytes, (byte)0, start);
        return Encoding.ASCII.GetString(bytes, start, (end < 0 ? bytes.Length : end) - start);
    }
}
