using MoeQuant.Model.Calibration;

namespace MoeQuant.Model.TinyModel;

/// <summary>
/// The built-in tiny model's default calibration data: token ids drawn uniformly from its vocabulary with a seeded
/// numpy-compatible generator, so that a run with no dataset flag is reproducible on every machine.
/// </summary>
public static class TinyCalibration
{
    /// <summary>Shortest sample: long enough for attention across positions.</summary>
    private const int MinLength = 16;

    /// <summary><paramref name="count"/> samples of <see cref="MinLength"/> to <paramref name="maxLength"/> tokens (at
    /// most 128), ids below <paramref name="vocabSize"/>.</summary>
    public static IReadOnlyList<int[]> Samples(int count, int maxLength, int vocabSize, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        var generator = new NumpyGenerator((ulong)seed);
        var longest = Math.Min(maxLength, 128);
        var shortest = Math.Min(MinLength, longest);
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            var length = shortest + generator.Interval((uint)(longest - shortest));
            return Enumerable.Range(0, length).Select(_ => generator.Interval((uint)vocabSize - 1)).ToArray();
        })];
    }
}
