using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace Attune.Torch.Tokenizers;

/// <summary>
/// Byte-pair encoding with merge ranks, as Hugging Face's BPE model: within a word, the adjacent
/// pair with the lowest merge rank is merged first (leftmost on ties), until no pair merges.
/// Results are cached per word.
/// </summary>
internal sealed class BpeModel
{
    private const int MaxCachedWordLength = 256;
    private const int MaxCacheEntries = 200_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly int[] _byteCharIds; // id of each byte-level character (U+0000..U+0143), -1 when absent
    private readonly int? _unkId;
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly bool _byteLevel;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;

    public BpeModel(Dictionary<string, int> vocab, Dictionary<long, (int Rank, int NewId)> merges, int? unkId, bool byteFallback, bool ignoreMerges, bool byteLevel)
    {
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _merges = merges;
        _unkId = unkId;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        _byteLevel = byteLevel;
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        _byteCharIds = new int[256 + 68];
        for (var c = 0; c < _byteCharIds.Length; c++)
        {
            _byteCharIds[c] = vocab.TryGetValue(((char)c).ToString(), out var id) ? id : -1;
        }
    }

    public static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Appends the ids of one pre-tokenized piece.</summary>
    public void Encode(ReadOnlySpan<char> piece, List<int> ids)
    {
        if (piece.IsEmpty)
        {
            return;
        }

        if (!_byteLevel)
        {
            EncodeWord(piece, ids);
            return;
        }

        // Byte-level: the UTF-8 bytes of the piece, each spelled as its stand-in character.
        var maxBytes = Encoding.UTF8.GetMaxByteCount(piece.Length);
        var rentedBytes = maxBytes <= 512 ? null : ArrayPool<byte>.Shared.Rent(maxBytes);
        var rentedChars = maxBytes <= 512 ? null : ArrayPool<char>.Shared.Rent(maxBytes);
        try
        {
            Span<byte> bytes = rentedBytes ?? stackalloc byte[512];
            Span<char> chars = rentedChars ?? stackalloc char[512];
            var n = Encoding.UTF8.GetBytes(piece, bytes);
            for (var i = 0; i < n; i++)
            {
                chars[i] = ByteLevel.ByteToChar(bytes[i]);
            }

            EncodeWord(chars[..n], ids);
        }
        finally
        {
            if (rentedBytes is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedBytes);
                ArrayPool<char>.Shared.Return(rentedChars!);
            }
        }
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        if (_ignoreMerges && _vocabBySpan.TryGetValue(word, out var whole))
        {
            ids.Add(whole);
            return;
        }

        if (word.Length <= MaxCachedWordLength && _cacheBySpan.TryGetValue(word, out var cached))
        {
            ids.AddRange(cached);
            return;
        }

        var result = Merge(word);
        if (word.Length <= MaxCachedWordLength && _cache.Count < MaxCacheEntries)
        {
            _cacheBySpan.TryAdd(word, result);
        }

        ids.AddRange(result);
    }

    private int[] Merge(ReadOnlySpan<char> word)
    {
        // Initial symbols: one per character (code point).
        var symbols = new List<int>(word.Length);
        for (var i = 0; i < word.Length; i++)
        {
            var width = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            var unit = word.Slice(i, width);
            int id;
            if (width == 1 && word[i] < _byteCharIds.Length && _byteCharIds[word[i]] >= 0)
            {
                id = _byteCharIds[word[i]];
            }
            else if (_vocabBySpan.TryGetValue(unit, out var found))
            {
                id = found;
            }
            else
            {
                AddUnknown(unit, symbols);
                i += width - 1;
                continue;
            }

            symbols.Add(id);
            i += width - 1;
        }

        var n = symbols.Count;
        if (n < 2)
        {
            return [.. symbols];
        }

        var id2 = symbols.ToArray();
        var next = new int[n];
        var prev = new int[n];
        var alive = new bool[n];
        for (var i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            alive[i] = true;
        }

        var queue = new PriorityQueue<int, long>();
        for (var i = 0; i + 1 < n; i++)
        {
            if (_merges.TryGetValue(PairKey(id2[i], id2[i + 1]), out var m))
            {
                queue.Enqueue(i, ((long)m.Rank << 32) | (uint)i);
            }
        }

        while (queue.TryDequeue(out var pos, out var priority))
        {
            var right = next[pos];
            if (!alive[pos] || right < 0)
            {
                continue;
            }

            // Skip entries made stale by earlier merges: the pair here must still have this rank.
            if (!_merges.TryGetValue(PairKey(id2[pos], id2[right]), out var merge) || merge.Rank != (int)(priority >> 32))
            {
                continue;
            }

            id2[pos] = merge.NewId;
            alive[right] = false;
            next[pos] = next[right];
            if (next[right] >= 0)
            {
                prev[next[right]] = pos;
            }

            if (prev[pos] >= 0 && _merges.TryGetValue(PairKey(id2[prev[pos]], id2[pos]), out var left))
            {
                queue.Enqueue(prev[pos], ((long)left.Rank << 32) | (uint)prev[pos]);
            }

            if (next[pos] >= 0 && _merges.TryGetValue(PairKey(id2[pos], id2[next[pos]]), out var after))
            {
                queue.Enqueue(pos, ((long)after.Rank << 32) | (uint)pos);
            }
        }

        var result = new List<int>(n);
        for (var i = 0; i >= 0; i = next[i])
        {
            result.Add(id2[i]);
        }

        return [.. result];
    }

    private void AddUnknown(ReadOnlySpan<char> unit, List<int> symbols)
    {
        if (_byteFallback)
        {
            Span<byte> bytes = stackalloc byte[8];
            var count = Encoding.UTF8.GetBytes(unit, bytes);
            var all = true;
            var start = symbols.Count;
            for (var b = 0; b < count; b++)
            {
                if (_vocab.TryGetValue($"<0x{bytes[b]:X2}>", out var byteId))
                {
                    symbols.Add(byteId);
                }
                else
                {
                    all = false;
                }
            }

            if (all)
            {
                return;
            }

            symbols.RemoveRange(start, symbols.Count - start);
        }

        // As Hugging Face: the unknown token where there is one, otherwise the character is dropped.
        if (_unkId is int unk)
        {
            symbols.Add(unk);
        }
    }
}
