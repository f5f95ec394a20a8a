using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace MoeQuant.Coordinator.Report;

/// <summary>loss-by-layer.png: the mean GPTQ proxy loss of each unit type per layer (solid), with round-to-nearest on
/// the same units (dashed, same colour) for comparison.</summary>
internal static class LossPlot
{
    private const int Width = 1400;
    private const int Height = 800;

    public static byte[] Render(ReportData data)
    {
        var font = ReportFont.Use();
        var plot = new Plot();
        var points = data.ByType.Where(t => t.MeanLoss is not null && t.MeanRtnLoss is not null).ToList();
        // Attention and expert losses lie orders of magnitude apart, so the y axis is log10 whenever it can be.
        var log = points.Count > 0 && points.All(t => t.MeanLoss > 0 && t.MeanRtnLoss > 0);
        double Y(double loss) => log ? Math.Log10(loss) : loss;

        var palette = new ScottPlot.Palettes.Category20();
        var types = data.UnitTypes;
        for (var i = 0; i < types.Count; i++)
        {
            var series = points.Where(t => t.UnitType == types[i]).ToList();
            if (series.Count == 0)
            {
                continue;
            }

            // Category20 pairs a dark and a light shade of each hue: take the ten dark ones first, so that
            // neighbouring types differ in hue.
            var color = palette.GetColor(i < 10 ? 2 * i : (2 * (i - 10)) + 1);
            double[] layers = [.. series.Select(t => (double)t.Layer)];
            var gptq = plot.Add.Scatter(layers, [.. series.Select(t => Y(t.MeanLoss!.Value))], color);
            (gptq.LineWidth, gptq.MarkerSize) = (2, 5);
            var rtn = plot.Add.Scatter(layers, [.. series.Select(t => Y(t.MeanRtnLoss!.Value))], color);
            // Open markers too, so that a type present in one layer only still shows its RTN point.
            (rtn.LineWidth, rtn.LinePattern, rtn.MarkerShape, rtn.MarkerSize) = (1.5f, LinePattern.Dashed, MarkerShape.OpenCircle, 7);
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = types[i], LineColor = color, LineWidth = 2, MarkerShape = MarkerShape.FilledCircle, MarkerSize = 5, MarkerColor = color });
        }

        plot.Legend.ManualItems.Add(new LegendItem
        {
            LabelText = "round-to-nearest (dashed, open)",
            LineColor = Colors.Gray,
            LineWidth = 1.5f,
            LinePattern = LinePattern.Dashed,
            MarkerShape = MarkerShape.OpenCircle,
            MarkerSize = 7,
            MarkerColor = Colors.Gray,
        });
        plot.Legend.DisplayPlottableLegendItems = false;
        plot.Legend.SetBestFontOnEachRender = false;
        plot.ShowLegend(Edge.Right);

        plot.Title(points.Count == 0 ? "Proxy loss by layer: no unit with a measured loss" : "Proxy loss by layer: mean per unit type");
        plot.XLabel("layer");
        plot.YLabel(log ? "relative proxy loss (log scale)" : "relative proxy loss");
        // Tick labels in the invariant culture, like the rest of the report: the PNG must not depend on the machine.
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true, LabelFormatter = Invariant };
        plot.Axes.Left.TickGenerator = new NumericAutomatic { LabelFormatter = Invariant };
        plot.Axes.SetLimitsX(-0.5, Math.Max(data.Layers, 1) - 0.5);
        if (log)
        {
            // Whole decades at the ends, so the axis always has labelled ticks (10^k), with log-spaced minor ticks.
            var low = Math.Floor(points.Min(t => Math.Min(Y(t.MeanLoss!.Value), Y(t.MeanRtnLoss!.Value))));
            var high = Math.Ceiling(points.Max(t => Math.Max(Y(t.MeanLoss!.Value), Y(t.MeanRtnLoss!.Value))));
            plot.Axes.Left.TickGenerator = new NumericAutomatic
            {
                IntegerTicksOnly = true,
                MinorTickGenerator = new LogMinorTickGenerator(),
                LabelFormatter = y => $"1e{y.ToString("0", CultureInfo.InvariantCulture)}",
            };
            plot.Axes.SetLimitsY(low, high > low ? high : low + 1);
        }

        plot.Font.Set(font);
        plot.Legend.FontName = font;
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    private static string Invariant(double value) => value.ToString("G4", CultureInfo.InvariantCulture);
}
