using System.Text;
using System.Text.Json.Nodes;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>Helpers for tokenizer tests: temporary files and a byte-level vocabulary built independently of the code under test.</summary>
internal static class TestFiles
{
    public static string FixturePath(params string[] parts) =>
        Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    private static readonly Lazy<string> Root = new(() =>
    {
        // The test host is not always given a chance to run exit handlers: remove the folders of
        // earlier runs whose process is gone.
        foreach (var stale in Directory.EnumerateDirectories(Path.GetTempPath(), "attune-tok-tests-*"))
        {
            if (int.TryParse(Path.GetFileName(stale)["attune-tok-tests-".Length..], out var pid) && !IsRunning(pid))
            {
                try
                {
                    Directory.Delete(stale, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }

        var root = Path.Combine(Path.GetTempPath(), $"attune-tok-tests-{Environment.ProcessId}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return root;
    });

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>A new empty temporary folder (all are removed when the test process ends).</summary>
    public static string TempDir()
    {
        var dir = Path.Combine(Root.Value, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static string Write(string content, string name = "tokenizer.json")
    {
        var path = Path.Combine(TempDir(), name);
        File.WriteAllText(path, content, new UTF8Encoding(false));
        return path;
    }

    /// <summary>
    /// GPT-2's bytes_to_unicode, written out again here: bytes 33..126, 161..172 and 174..255 stand
    /// for themselves; the remaining bytes, in increasing order, take U+0100, U+0101, ….
    /// </summary>
    public static char ByteChar(int b)
    {
        bool Printable(int x) => (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
        if (Printable(b))
        {
            return (char)b;
        }

        var n = 0;
        for (var x = 0; x < b; x++)
        {
            if (!Printable(x))
            {
                n++;
            }
        }

        return (char)(256 + n);
    }

    /// <summary>The byte-level spelling of a string (its UTF-8 bytes, each as <see cref="ByteChar"/>).</summary>
    public static string Spell(string text) => new([.. Encoding.UTF8.GetBytes(text).Select(b => ByteChar(b))]);

    /// <summary>A vocabulary where the token for byte b has id b (ids 0..255).</summary>
    public static JsonObject ByteVocab()
    {
        var vocab = new JsonObject();
        for (var b = 0; b < 256; b++)
        {
            vocab[ByteChar(b).ToString()] = b;
        }

        return vocab;
    }

    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// A tokenizer.json in the shape Qwen2 and Llama-3 ship: a Split(pattern, Isolated) then
    /// ByteLevel(use_regex false) pre-tokenizer, a ByteLevel decoder, and the given model pieces.
    /// </summary>
    public static JsonObject SplitByteLevelTokenizer(string pattern, JsonObject vocab, JsonArray merges, bool ignoreMerges, JsonNode? normalizer = null, JsonArray? addedTokens = null, JsonNode? postProcessor = null) =>
        new()
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = addedTokens ?? [],
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split",
                        ["pattern"] = new JsonObject { ["Regex"] = pattern },
                        ["behavior"] = "Isolated",
                        ["invert"] = false,
                    },
                    new JsonObject
                    {
                        ["type"] = "ByteLevel",
                        ["add_prefix_space"] = false,
                        ["trim_offsets"] = false,
                        ["use_regex"] = false,
                    }),
            },
            ["post_processor"] = postProcessor,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = ignoreMerges,
                ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };

    public static JsonObject AddedToken(int id, string content, bool special = true, bool lstrip = false, bool rstrip = false, bool singleWord = false, bool normalized = false) =>
        new()
        {
            ["id"] = id,
            ["content"] = content,
            ["single_word"] = singleWord,
            ["lstrip"] = lstrip,
            ["rstrip"] = rstrip,
            ["normalized"] = normalized,
            ["special"] = special,
        };
}
