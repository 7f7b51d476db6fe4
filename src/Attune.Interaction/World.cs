namespace Attune.Interaction;

/// <summary>
/// The state x_t of the coupled system: users' preference vectors, the items' attribute vectors
/// (the creators' content), item topics, and the interaction record (counts, summed and latest
/// ratings, consumed sets as bitsets). All arrays are allocated once; a run's memory is flat.
/// Recommenders read the record instead of keeping their own history, so a recommender switched
/// in by an intervention sees everything observed so far.
/// </summary>
public sealed class World
{
    public World(int users, int items, int dimension, int topics)
    {
        UserCount = users;
        ItemCount = items;
        Dimension = dimension;
        Topics = Math.Max(1, topics);
        Preferences = new float[users * dimension];
        InitialPreferences = new float[users * dimension];
        ItemVectors = new float[items * dimension];
        ItemVectorsByDimension = new float[items * dimension];
        ItemTopics = new int[items];
        Counts = new int[users * items];
        RatingSums = new float[users * items];
        Popularity = new int[items];
        Words = (items + 63) / 64;
        ConsumedBits = new ulong[users * Words];
        ConsumedCount = new int[users];
    }

    public int UserCount { get; }

    public int ItemCount { get; }

    public int Dimension { get; }

    public int Topics { get; }

    /// <summary>The scenario's seed (parts derive their own fixed randomness from it).</summary>
    public int Seed { get; internal set; }

    /// <summary>The step being simulated (0-based).</summary>
    public int Step { get; internal set; }

    /// <summary>Users' current preferences p_u, row-major n×d.</summary>
    public float[] Preferences { get; }

    /// <summary>Users' preferences at step 0 (for drift and welfare).</summary>
    public float[] InitialPreferences { get; }

    /// <summary>Items' attribute vectors v_i, row-major m×d.</summary>
    public float[] ItemVectors { get; }

    /// <summary>The same vectors dimension-major (d rows of m), for scoring every item at once.</summary>
    public float[] ItemVectorsByDimension { get; }

    /// <summary>Each item's topic in [0, Topics).</summary>
    public int[] ItemTopics { get; }

    /// <summary>How often user u consumed item i, n×m.</summary>
    public int[] Counts { get; }

    /// <summary>Sum of the ratings user u gave item i, n×m.</summary>
    public float[] RatingSums { get; }

    /// <summary>Total consumptions of each item.</summary>
    public int[] Popularity { get; }

    /// <summary>64-bit words per user in <see cref="ConsumedBits"/>.</summary>
    public int Words { get; }

    /// <summary>The set of items each user has consumed, as bitsets (n × Words).</summary>
    public ulong[] ConsumedBits { get; }

    /// <summary>Distinct items each user has consumed.</summary>
    public int[] ConsumedCount { get; }

    /// <summary>Incremented whenever item vectors change (recommenders that cache item statistics check it).</summary>
    public int ItemVersion { get; private set; }

    public Span<float> Preference(int user) => Preferences.AsSpan(user * Dimension, Dimension);

    public ReadOnlySpan<float> InitialPreference(int user) => InitialPreferences.AsSpan(user * Dimension, Dimension);

    public Span<float> Item(int item) => ItemVectors.AsSpan(item * Dimension, Dimension);

    public bool HasConsumed(int user, int item) => (ConsumedBits[(user * Words) + (item >> 6)] & (1UL << (item & 63))) != 0;

    /// <summary>Records that <paramref name="user"/> consumed <paramref name="item"/> with <paramref name="rating"/> (touches only the user's row).</summary>
    public void Record(int user, int item, float rating)
    {
        var cell = (user * ItemCount) + item;
        Counts[cell]++;
        RatingSums[cell] += rating;
        ref var word = ref ConsumedBits[(user * Words) + (item >> 6)];
        var bit = 1UL << (item & 63);
        if ((word & bit) == 0)
        {
            word |= bit;
            ConsumedCount[user]++;
        }
    }

    /// <summary>Call after changing <see cref="ItemVectors"/>: refreshes the dimension-major copy.</summary>
    public void ItemsChanged()
    {
        var m = ItemCount;
        var d = Dimension;
        for (var i = 0; i < m; i++)
        {
            for (var k = 0; k < d; k++)
            {
                ItemVectorsByDimension[(k * m) + i] = ItemVectors[(i * d) + k];
            }
        }

        ItemVersion++;
    }
}

/// <summary>What happened in one step: the slates shown, the items chosen, the ratings given.</summary>
public sealed class StepRecord
{
    public StepRecord(int users, int slate)
    {
        SlateSize = slate;
        Slates = new int[users * slate];
        Chosen = new int[users];
        Ratings = new float[users];
        Utilities = new float[users];
    }

    public int Step { get; internal set; }

    public int SlateSize { get; }

    /// <summary>Slate of each user, n×k item indices (−1 where fewer items were available).</summary>
    public int[] Slates { get; }

    /// <summary>The item each user chose, or −1 for the outside option.</summary>
    public int[] Chosen { get; }

    /// <summary>The rating (feedback) each user gave, 0 when nothing was chosen.</summary>
    public float[] Ratings { get; }

    /// <summary>The true utility of the chosen item at the moment of choice, 0 when nothing was chosen.</summary>
    public float[] Utilities { get; }

    public ReadOnlySpan<int> Slate(int user) => Slates.AsSpan(user * SlateSize, SlateSize);
}
