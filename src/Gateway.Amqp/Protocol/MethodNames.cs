namespace Gateway.Amqp.Protocol;

/// <summary>The names of the methods of AMQP 0-9-1, for error texts, and whether an id is one of them.</summary>
internal static class MethodNames
{
    private static readonly Dictionary<uint, string> Names = typeof(MethodId)
        .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(f => f.FieldType == typeof(uint))
        .ToDictionary(f => (uint)f.GetValue(null)!, f => ToName(f.Name));

    // ExchangeDeclareOk -> exchange.declare-ok
    private static string ToName(string field)
    {
        var chars = new System.Text.StringBuilder();
        var words = 0;
        foreach (var c in field)
        {
            if (char.IsUpper(c) && chars.Length > 0) chars.Append(words++ == 0 ? '.' : '-');
            chars.Append(char.ToLowerInvariant(c));
        }
        return chars.ToString();
    }

    public static bool IsKnown(uint method) => Names.ContainsKey(method);

    public static string Name(uint method) => Names.GetValueOrDefault(method) ?? $"method {MethodId.Class(method)}.{MethodId.Method(method)}";
}
