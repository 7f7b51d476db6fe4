using System.Globalization;
using System.Text;
using System.Text.Json;
using Attune.Bandits;

namespace Attune.Studies;

/// <summary>The export formats: one row per rating; <c>consented_at</c> is the participant's (empty where none was recorded).</summary>
public static class StudyExport
{
    public static readonly IReadOnlyList<string> Columns =
        ["participant", "prolific_pid", "study_id", "session_id", "worker_id", "assignment_id", "hit_id", "condition", "round", "arm", "item_id", "rating", "submitted_at", "consented_at"];

    public static string Csv(IEnumerable<ExportRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var sb = new StringBuilder();
        sb.Append(string.Join(',', Columns)).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(string.Join(',', Fields(r).Select(f => ResponseCsv.Quote(f?.ToString() ?? "")))).Append('\n');
        }

        return sb.ToString();
    }

    public static string JsonLines(IEnumerable<ExportRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            var dict = new Dictionary<string, object?>();
            var values = Fields(r);
            for (var i = 0; i < Columns.Count; i++)
            {
                dict[Columns[i]] = values[i];
            }

            sb.Append(JsonSerializer.Serialize(dict)).Append('\n');
        }

        return sb.ToString();
    }

    private static object?[] Fields(ExportRow r) =>
    [
        r.Participant, r.ProlificPid, r.StudyId, r.SessionId, r.WorkerId, r.AssignmentId, r.HitId, r.Condition, r.Round, r.Arm, r.ItemId, r.Rating,
        Time(r.SubmittedAt), r.ConsentedAt is { } at ? Time(at) : null,
    ];

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
}
