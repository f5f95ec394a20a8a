namespace MoeQuant.Kernels.Gptq;

/// <summary>A GPTQ failure that names the unit (layer or expert projection) it happened in.</summary>
public class GptqException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="unit">The unit's name, e.g. <c>model.layers.3.mlp.experts.17.up_proj</c>.</param>
    /// <param name="message">What went wrong, without the unit's name.</param>
    public GptqException(string unit, string message)
        : base($"{unit}: {message}")
    {
        Unit = unit;
    }

    /// <summary>The unit that failed.</summary>
    public string Unit { get; }
}

/// <summary>The weight, Hessian or options handed to GPTQ are unusable (shapes, values, settings).</summary>
public sealed class GptqInputException(string unit, string message) : GptqException(unit, message);

/// <summary>The damped Hessian had no Cholesky factor at any damping tried.</summary>
public sealed class HessianNotInvertibleException(string unit, double largestRelDamp)
    : GptqException(unit, $"the Hessian has no Cholesky factor even with rel_damp {largestRelDamp:G3}")
{
    /// <summary>The largest relative damping tried.</summary>
    public double LargestRelDamp { get; } = largestRelDamp;
}

/// <summary>The unit saw fewer calibration tokens than required, under <see cref="FewTokensPolicy.Fail"/>.</summary>
public sealed class InsufficientCalibrationException(string unit, long tokens, long required)
    : GptqException(unit, $"{tokens} calibration tokens, {required} required")
{
    /// <summary>Tokens the unit saw.</summary>
    public long Tokens { get; } = tokens;

    /// <summary>Tokens required.</summary>
    public long Required { get; } = required;
}
