using ScottPlot;

namespace Attune.Core.Reports;

/// <summary>
/// PNG plots with ScottPlot. Text needs fonts on the machine (Debian: fonts-dejavu-core);
/// without them ScottPlot draws no text at all.
/// </summary>
public static class Plotting
{
    public const int Width = 800;
    public const int Height = 500;

    /// <summary>The fill of histogram bars (matplotlib's first colour).</summary>
    public static readonly Color BarColour = new(31, 119, 180);

    public static byte[] Line(string title, string xLabel, string yLabel, IEnumerable<Series> series)
    {
        using var plot = NewPlot(title, xLabel, yLabel);
        var any = false;
        foreach (var s in series)
        {
            if (s.X.Count != s.Y.Count)
            {
                throw new ArgumentException($"series '{s.Name}' has {s.X.Count} x values and {s.Y.Count} y values");
            }

            var scatter = plot.Add.Scatter(s.X.ToArray(), s.Y.ToArray());
            scatter.LegendText = s.Name;
            scatter.MarkerSize = 5;
            any |= !string.IsNullOrEmpty(s.Name);
        }

        if (any)
        {
            plot.ShowLegend();
        }

        return Png(plot);
    }

    public static byte[] Bars(string title, string xLabel, string yLabel, IReadOnlyList<string> labels, IReadOnlyList<double> values)
    {
        if (labels.Count != values.Count)
        {
            throw new ArgumentException($"{labels.Count} labels for {values.Count} bars");
        }

        using var plot = NewPlot(title, xLabel, yLabel);
        plot.Add.Bars(values.ToArray());
        var ticks = labels.Select((l, i) => new Tick(i, l)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Axes.Margins(bottom: 0);
        return Png(plot);
    }

    public static byte[] Histogram(string title, string xLabel, IReadOnlyList<double> values, int bins, double min, double max)
    {
        if (bins < 1 || !(max > min))
        {
            throw new ArgumentException($"a histogram needs bins >= 1 and max > min (got {bins} bins over [{min}, {max}])");
        }

        var counts = BinCounts(values, bins, min, max);
        var width = (max - min) / bins;
        using var plot = NewPlot(title, xLabel, "count");
        var bars = counts.Select((c, i) => new Bar
        {
            Position = min + ((i + 0.5) * width),
            Value = c,
            Size = width * 0.95,
            FillColor = BarColour,
        }).ToArray();
        plot.Add.Bars(bars);
        plot.Axes.Margins(bottom: 0);
        return Png(plot);
    }

    public static byte[] HeatMap(string title, double[,] values, IReadOnlyList<string>? rowLabels, IReadOnlyList<string>? columnLabels)
    {
        using var plot = NewPlot(title, "", "");
        var map = plot.Add.Heatmap(values);
        plot.Add.ColorBar(map);
        if (columnLabels is not null)
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                columnLabels.Select((l, i) => new Tick(i, l)).ToArray());
        }

        if (rowLabels is not null)
        {
            // Row 0 is drawn at the top.
            var rows = values.GetLength(0);
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                rowLabels.Select((l, i) => new Tick(rows - 1 - i, l)).ToArray());
        }

        return Png(plot);
    }

    /// <summary>Counts of values in equal bins over [min, max]; max itself falls in the last bin; values outside are dropped.</summary>
    public static int[] BinCounts(IReadOnlyList<double> values, int bins, double min, double max)
    {
        var counts = new int[bins];
        foreach (var v in values)
        {
            if (double.IsNaN(v) || v < min || v > max)
            {
                continue;
            }

            var i = (int)((v - min) / (max - min) * bins);
            counts[Math.Min(i, bins - 1)]++;
        }

        return counts;
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        if (xLabel.Length > 0)
        {
            plot.XLabel(xLabel);
        }

        if (yLabel.Length > 0)
        {
            plot.YLabel(yLabel);
        }

        return plot;
    }

    private static byte[] Png(Plot plot) => plot.GetImageBytes(Width, Height, ImageFormat.Png);
}
