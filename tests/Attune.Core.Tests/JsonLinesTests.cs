using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Core.Tests;

public class JsonLinesTests
{
    private sealed record Row(string Name, int Count);

    [Fact]
    public void Reads_rows_with_their_line_numbers_skipping_blank_lines()
    {
        using var dir = new TempDir();
        var path = dir.File("rows.jsonl");
        File.WriteAllText(path, "{\"name\":\"a\",\"count\":1}\n\n{\"name\":\"b\",\"count\":2}\n");
        var rows = JsonLines.Read<Row>(path).ToList();
        Assert.Equal([(1L, new Row("a", 1)), (3L, new Row("b", 2))], rows);
    }

    [Fact]
    public void A_broken_line_is_named_with_file_and_line_number()
    {
        using var dir = new TempDir();
        var path = dir.File("log.jsonl");
        File.WriteAllText(path, "{\"name\":\"a\",\"count\":1}\n{\"name\":\"b\",\"count\":2}\n{\"name\": \"c\", \"count\n{\"name\":\"d\",\"count\":4}\n");
        var ex = Assert.Throws<AttuneInputException>(() => JsonLines.Read<Row>(path).ToList());
        Assert.Equal(3, ex.Line);
        Assert.StartsWith($"{path}:3: not valid JSON", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void A_field_of_the_wrong_type_names_the_field()
    {
        using var dir = new TempDir();
        var path = dir.File("rows.jsonl");
        File.WriteAllText(path, "{\"name\":\"a\",\"count\":\"many\"}\n");
        var ex = Assert.Throws<AttuneInputException>(() => JsonLines.Read<Row>(path).ToList());
        Assert.Equal(1, ex.Line);
        Assert.Equal("$.count", ex.Field);
        Assert.Contains("field '$.count'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_bad_input_naming_it()
    {
        var ex = Assert.Throws<AttuneInputException>(() => JsonLines.ReadElements("/no/such/file.jsonl"));
        Assert.Equal("/no/such/file.jsonl: file not found", ex.Message);
    }

    [Fact]
    public void Append_writes_whole_lines_that_read_back()
    {
        using var dir = new TempDir();
        var path = dir.File("out.jsonl");
        JsonLines.Append(path, new Row("x", 5));
        JsonLines.Append(path, new Row("y", 6));
        Assert.Equal(2, File.ReadAllLines(path).Length);
        Assert.Equal(new Row("y", 6), JsonLines.Read<Row>(path).Last().Value);
    }

    [Fact]
    public void Atomic_write_replaces_whole_files_and_leaves_no_temporary_on_failure()
    {
        using var dir = new TempDir();
        var path = dir.File("report.md");
        AtomicFile.WriteAllText(path, "first");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.WriteByte(65);
            throw new InvalidOperationException("interrupted");
        }));
        Assert.Equal("first", File.ReadAllText(path));
        Assert.Equal(["report.md"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Seeds_are_reproducible_and_derived_streams_differ()
    {
        var a = Randomness.Seeds.Create(42, 1);
        var b = Randomness.Seeds.Create(42, 1);
        var c = Randomness.Seeds.Create(42, 2);
        var xa = Enumerable.Range(0, 5).Select(_ => a.Next()).ToArray();
        Assert.Equal(xa, Enumerable.Range(0, 5).Select(_ => b.Next()).ToArray());
        Assert.NotEqual(xa, Enumerable.Range(0, 5).Select(_ => c.Next()).ToArray());
        Assert.NotEqual(Randomness.Seeds.Derive(1, 0), Randomness.Seeds.Derive(2, 0));
        Assert.True(Randomness.Seeds.Derive(int.MinValue, long.MaxValue) >= 0);
    }

    [Fact]
    public void Options_use_camel_case_names()
    {
        Assert.Equal("{\"name\":\"a\",\"count\":1}", JsonSerializer.Serialize(new Row("a", 1), JsonLines.Options));
    }
}
