using ScottPlot;
using SkiaSharp;

namespace MoeQuant.Coordinator.Report;

/// <summary>
/// The plot's one font, DejaVu Sans, embedded in the assembly (Report/Fonts, Bitstream Vera licence beside it). The
/// GPU machine and containers often have no system font, and Skia without one draws no text at all; an embedded font
/// also makes the PNG the same on every machine. It is offered to ScottPlot under its own family name, ahead of the
/// system fonts.
/// </summary>
internal static class ReportFont
{
    public const string Family = "MoeQuant DejaVu Sans";

    private static readonly Lazy<string> Registered = new(() =>
    {
        Fonts.FontResolvers.Insert(0, new Resolver(Load()));
        return Family;
    });

    /// <summary>Registers the font with ScottPlot once per process and returns its family name.</summary>
    public static string Use() => Registered.Value;

    private static SKData Load()
    {
        using var stream = typeof(ReportFont).Assembly.GetManifestResourceStream("MoeQuant.Report.DejaVuSans.ttf")
            ?? throw new InvalidOperationException("the embedded report font is missing from the assembly");
        return SKData.Create(stream);
    }

    // Regular only: bold or italic requests get the regular face, which keeps every glyph the same on every machine.
    private sealed class Resolver(SKData font) : IFontResolver
    {
        public SKTypeface? CreateTypeface(string fontName, bool bold, bool italic) =>
            fontName == Family ? SKTypeface.FromData(font) : null;

        public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing width) =>
            CreateTypeface(fontName, bold: false, italic: false);
    }
}
