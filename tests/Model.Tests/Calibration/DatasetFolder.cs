using Parquet.Serialization;

namespace MoeQuant.Model.Tests.Calibration;

/// <summary>A temporary folder for dataset files, deleted with the test class.</summary>
public sealed class DatasetFolder : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("moequant-data-").FullName;

    public string Write(string relativePath, string content)
    {
        var path = Prepare(relativePath);
        File.WriteAllText(path, content);
        return path;
    }

    public string WriteParquet<T>(string relativePath, IEnumerable<T> rows)
    {
        var path = Prepare(relativePath);
        ParquetSerializer.SerializeAsync(rows, path).GetAwaiter().GetResult();
        return path;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);

    private string Prepare(string relativePath)
    {
        var path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }
}

#pragma warning disable IDE1006 // parquet column names are the dataset's snake_case field names
/// <summary>An OpenThoughts-114k row.</summary>
public sealed class OpenThoughtsRow
{
    public string? system { get; set; }

    public List<OpenThoughtsTurn>? conversations { get; set; }
}

/// <summary>One turn of an OpenThoughts conversation.</summary>
public sealed class OpenThoughtsTurn
{
    public string? from { get; set; }

    public string? value { get; set; }
}
#pragma warning restore IDE1006
