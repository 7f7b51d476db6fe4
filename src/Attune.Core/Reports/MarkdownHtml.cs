using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Attune.Core.Reports;

/// <summary>
/// Renders the markdown Attune's reports are written in — headings, paragraphs, bullet and numbered
/// lists, tables, fenced code, block quotes, images, and inline code, bold, italic and links — as
/// HTML that is also well-formed XML. Everything else is escaped text: raw HTML in the markdown is
/// shown, never interpreted. Images are resolved by <see cref="ImageSource"/>.
/// </summary>
public sealed partial class MarkdownHtml
{
    /// <summary>
    /// Maps an image's markdown target to the <c>src</c> to write, or null when it cannot be shown
    /// (then its alt text is written instead). Reports embed their plots as data URIs here.
    /// </summary>
    public Func<string, string?> ImageSource { get; init; } = _ => null;

    /// <summary>Adds a class to a table cell from its plain text (null for none); reports colour verdicts this way.</summary>
    public Func<string, string?> CellClass { get; init; } = _ => null;

    public string Render(string markdown)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        var lines = markdown.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var html = new StringBuilder();
        var i = 0;
        while (i < lines.Length)
        {
            var line = lines[i];
            if (line.Trim().Length == 0)
            {
                i++;
            }
            else if (line.StartsWith("```", StringComparison.Ordinal))
            {
                var code = new List<string>();
                i++;
                while (i < lines.Length && !lines[i].StartsWith("```", StringComparison.Ordinal))
                {
                    code.Add(lines[i++]);
                }

                i++;   // the closing fence (or the end)
                html.Append("<pre><code>").Append(Escape(string.Join('\n', code))).Append("</code></pre>\n");
            }
            else if (Heading().Match(line) is { Success: true } h)
            {
                var level = h.Groups[1].Length;
                html.Append($"<h{level}>").Append(Inline(h.Groups[2].Value.Trim())).Append($"</h{level}>\n");
                i++;
            }
            else if (IsTableStart(lines, i))
            {
                i = Table(lines, i, html);
            }
            else if (line.StartsWith('>'))
            {
                var quote = new List<string>();
                while (i < lines.Length && lines[i].StartsWith('>'))
                {
                    quote.Add(lines[i++].TrimStart('>').TrimStart());
                }

                html.Append("<blockquote>").Append(Render(string.Join('\n', quote)).TrimEnd()).Append("</blockquote>\n");
            }
            else if (Bullet().IsMatch(line) || Numbered().IsMatch(line))
            {
                i = List(lines, i, html);
            }
            else if (StandaloneImage().Match(line.Trim()) is { Success: true } img)
            {
                html.Append("<figure>").Append(Image(img.Groups[1].Value, img.Groups[2].Value))
                    .Append("<figcaption>").Append(Inline(img.Groups[1].Value)).Append("</figcaption></figure>\n");
                i++;
            }
            else
            {
                var paragraph = new List<string>();
                while (i < lines.Length && lines[i].Trim().Length > 0 && !StartsBlock(lines, i))
                {
                    paragraph.Add(lines[i++].Trim());
                }

                html.Append("<p>").Append(string.Join("<br />\n", paragraph.Select(Inline))).Append("</p>\n");
            }
        }

        return html.ToString();
    }

    /// <summary>Inline markdown of one line: code spans first (their content stays literal), then images, links, bold, italic.</summary>
    public string Inline(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder();
        var parts = CodeSpan().Split(text);   // odd indexes are code spans' contents
        for (var p = 0; p < parts.Length; p++)
        {
            if (p % 2 == 1)
            {
                sb.Append("<code>").Append(Escape(parts[p])).Append("</code>");
                continue;
            }

            var escaped = Escape(parts[p].Replace("\\|", "|", StringComparison.Ordinal));
            escaped = InlineImage().Replace(escaped, m => Image(WebUtility.HtmlDecode(m.Groups[1].Value), WebUtility.HtmlDecode(m.Groups[2].Value)));
            escaped = Link().Replace(escaped, m => SafeHref(WebUtility.HtmlDecode(m.Groups[2].Value)) is { } href
                ? $"<a href=\"{Escape(href)}\">{m.Groups[1].Value}</a>"
                : m.Groups[1].Value);
            escaped = Bold().Replace(escaped, "<strong>$1</strong>");
            escaped = Italic().Replace(escaped, "<em>$1</em>");
            sb.Append(escaped);
        }

        return sb.ToString();
    }

    /// <summary>Text with markdown's emphasis and code marks removed: what a reader sees in a cell.</summary>
    public static string PlainText(string markdownCell) =>
        markdownCell.Replace("**", "", StringComparison.Ordinal).Replace("`", "", StringComparison.Ordinal).Replace("\\|", "|", StringComparison.Ordinal).Trim();

    /// <summary>Escapes text for HTML element content and attribute values (quotes included).</summary>
    public static string Escape(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
            .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);

    private string Image(string alt, string target) =>
        ImageSource(target) is { } src
            ? $"<img src=\"{Escape(src)}\" alt=\"{Escape(alt)}\" />"
            : $"<span class=\"missing-image\">[image: {Escape(alt)}]</span>";

    /// <summary>Links to relative files, anchors and http(s)/mailto pages; anything else (javascript:, data:) is dropped.</summary>
    private static string? SafeHref(string href)
    {
        var h = href.Trim();
        if (h.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || h.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            || h.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase) || h.StartsWith('#'))
        {
            return h;
        }

        return h.Contains(':', StringComparison.Ordinal) ? null : h;
    }

    private static bool StartsBlock(string[] lines, int i)
    {
        var line = lines[i];
        return line.StartsWith("```", StringComparison.Ordinal) || Heading().IsMatch(line) || IsTableStart(lines, i) || line.StartsWith('>')
            || Bullet().IsMatch(line) || Numbered().IsMatch(line);
    }

    private static bool IsTableStart(string[] lines, int i) =>
        lines[i].TrimStart().StartsWith('|') && i + 1 < lines.Length && TableRule().IsMatch(lines[i + 1].Trim());

    private int Table(string[] lines, int i, StringBuilder html)
    {
        var header = Cells(lines[i]);
        i += 2;
        html.Append("<div class=\"table\"><table>\n<thead><tr>");
        foreach (var cell in header)
        {
            html.Append("<th>").Append(Inline(cell)).Append("</th>");
        }

        html.Append("</tr></thead>\n<tbody>\n");
        while (i < lines.Length && lines[i].TrimStart().StartsWith('|'))
        {
            html.Append("<tr>");
            foreach (var cell in Cells(lines[i]))
            {
                var css = CellClass(PlainText(cell));
                html.Append(css is null ? "<td>" : $"<td class=\"{Escape(css)}\">").Append(Inline(cell)).Append("</td>");
            }

            html.Append("</tr>\n");
            i++;
        }

        html.Append("</tbody></table></div>\n");
        return i;
    }

    /// <summary>A table row's cells: split on pipes that are not escaped (<c>\|</c>) and not inside a code span.</summary>
    internal static List<string> Cells(string row)
    {
        var s = row.Trim();
        if (s.StartsWith('|'))
        {
            s = s[1..];
        }

        if (s.EndsWith('|') && !s.EndsWith("\\|", StringComparison.Ordinal))
        {
            s = s[..^1];
        }

        var cells = new List<string>();
        var current = new StringBuilder();
        var inCode = false;
        for (var k = 0; k < s.Length; k++)
        {
            var c = s[k];
            if (c == '\\' && k + 1 < s.Length && s[k + 1] == '|')
            {
                current.Append("\\|");
                k++;
            }
            else if (c == '`')
            {
                inCode = !inCode;
                current.Append(c);
            }
            else if (c == '|' && !inCode)
            {
                cells.Add(current.ToString().Trim());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        cells.Add(current.ToString().Trim());
        return cells;
    }

    private int List(string[] lines, int i, StringBuilder html)
    {
        var ordered = Numbered().IsMatch(lines[i]);
        html.Append(ordered ? "<ol>\n" : "<ul>\n");
        while (i < lines.Length && (ordered ? Numbered() : Bullet()).Match(lines[i]) is { Success: true } m)
        {
            var item = new List<string> { m.Groups[1].Value.Trim() };
            i++;
            // Continuation lines: indented, not a new item or block.
            while (i < lines.Length && lines[i].StartsWith("  ", StringComparison.Ordinal) && lines[i].Trim().Length > 0
                   && !Bullet().IsMatch(lines[i]) && !Numbered().IsMatch(lines[i]))
            {
                item.Add(lines[i++].Trim());
            }

            html.Append("<li>").Append(Inline(string.Join(' ', item))).Append("</li>\n");
        }

        html.Append(ordered ? "</ol>\n" : "</ul>\n");
        return i;
    }

    [GeneratedRegex(@"^(#{1,6})\s+(.*)$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"^\s*[-*]\s+(.*)$")]
    private static partial Regex Bullet();

    [GeneratedRegex(@"^\s*\d+[.)]\s+(.*)$")]
    private static partial Regex Numbered();

    [GeneratedRegex(@"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")]
    private static partial Regex TableRule();

    [GeneratedRegex(@"^!\[([^\]]*)\]\(([^)\s]+)\)$")]
    private static partial Regex StandaloneImage();

    [GeneratedRegex(@"!\[([^\]]*)\]\(([^)\s]+)\)")]
    private static partial Regex InlineImage();

    [GeneratedRegex(@"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"`([^`]*)`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\*\*(.+?)\*\*")]
    private static partial Regex Bold();

    [GeneratedRegex(@"(?<![\w*])\*(?!\s)([^*]+?)(?<!\s)\*(?![\w*])")]
    private static partial Regex Italic();
}
