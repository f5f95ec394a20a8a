using MoeQuant.Coordinator.Report;

namespace MoeQuant.Coordinator.Tests.Report;

public sealed class ReportFontTests
{
    [Fact]
    public void Should_serve_the_embedded_font_to_ScottPlot_for_any_style()
    {
        // The plot names this family only; were it not resolved, a machine without system fonts would draw no text.
        // Not disposed: ScottPlot may hand out a cached instance that other plots in this process still use.
        var typeface = ScottPlot.Fonts.GetTypeface(ReportFont.Use(), bold: true, italic: false);

        Assert.Equal("DejaVu Sans", typeface.FamilyName);
        Assert.True(typeface.GlyphCount > 3000, $"{typeface.GlyphCount} glyphs");
    }
}
