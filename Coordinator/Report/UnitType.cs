namespace MoeQuant.Coordinator.Report;

/// <summary>The kind of a quantization unit, for grouping losses across experts: the module name without its expert
/// index (<c>mlp.experts.17.gate_proj</c> → <c>mlp.experts.gate_proj</c>). Names without an index are their own type
/// (<c>self_attn.kv_b_proj</c>, <c>mlp.shared_experts.down_proj</c>, a dense layer's <c>mlp.gate_proj</c>).</summary>
public static class UnitType
{
    public static string Of(string module) =>
        string.Join('.', module.Split('.').Where(part => part.Length == 0 || !part.All(char.IsAsciiDigit)));
}
