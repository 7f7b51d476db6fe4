using System.Collections.Concurrent;

namespace Attune.Studies;

/// <summary>A participant's stored responses as this server process last read or wrote them.</summary>
internal sealed class ParticipantState(ParticipantRecord participant, List<RatingRecord> ratings, Dictionary<int, string> choices)
{
    public ParticipantRecord Participant { get; set; } = participant;

    public List<RatingRecord> Ratings { get; } = ratings;

    public Dictionary<int, string> Choices { get; } = choices;

    private (ParticipantRecord Participant, int Ratings, int Choices, NextView View)? _view;

    /// <summary>
    /// What the participant faces now: <see cref="StudyEngine.Next"/>, computed once per state. The
    /// rows only grow (a rating or choice is added, never changed) and the participant record is
    /// replaced when it changes, so the counts and the record identify the state; a rating's reply
    /// and the following <c>GET next</c> share one computation (the bandit replay and its seeded draws).
    /// </summary>
    public NextView View(StudyEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (_view is { } v && ReferenceEquals(v.Participant, Participant) && v.Ratings == Ratings.Count && v.Choices == Choices.Count)
        {
            return v.View;
        }

        var view = engine.Next(Participant, Ratings, Choices);
        _view = (Participant, Ratings.Count, Choices.Count, view);
        return view;
    }
}

/// <summary>
/// Each participant's stored rows, loaded from the database on first use and then kept in step
/// by this process's own writes, which always reach the database (and commit) first. Every
/// operation on one participant runs under that participant's lock, so concurrent requests of one
/// participant (a double click, a resubmission) see each other's effects. It holds rows, not
/// bandit objects: the policy is still rebuilt from the ratings on every request. It assumes one
/// server process per study database (a second process would not see the first one's writes);
/// after a restart it starts empty and reloads from the database.
/// </summary>
internal sealed class ParticipantCache(StudyStore store)
{
    /// <summary>
    /// Keyed by the token itself: the database keeps only token hashes (a copy of it reveals no
    /// token), but hashing here too would cost a SHA-256 on every request for nothing, since the
    /// token is in the request anyway. String keys are hashed with the runtime's per-process
    /// randomised seed, so bucket placement tells a guesser nothing.
    /// </summary>
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private sealed class Entry
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public ParticipantState? State { get; set; }
    }

    /// <summary>Starts the cached state of a participant this process has just created (and committed).</summary>
    public void Add(string token, ParticipantState state) =>
        _entries.TryAdd(token, new Entry { State = state });

    /// <summary>Runs <paramref name="action"/> on the participant's state under their lock; null state means an unknown token.</summary>
    public async Task<T> WithAsync<T>(string token, Func<ParticipantState?, Task<T>> action, CancellationToken ct)
    {
        var entry = _entries.GetOrAdd(token, _ => new Entry());
        await entry.Gate.WaitAsync(ct);
        try
        {
            if (entry.State is null)
            {
                var loaded = await store.LoadAsync(token, ct);
                if (loaded is null)
                {
                    // Unknown tokens are not remembered (guessing must not grow memory).
                    _entries.TryRemove(KeyValuePair.Create(token, entry));
                    return await action(null);
                }

                entry.State = new ParticipantState(loaded.Value.Participant, loaded.Value.Ratings, loaded.Value.Choices);
            }

            return await action(entry.State);
        }
        catch
        {
            // A failed write may or may not have committed: forget the rows and reload next time.
            entry.State = null;
            throw;
        }
        finally
        {
            entry.Gate.Release();
        }
    }
}
