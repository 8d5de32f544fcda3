using System.Globalization;
using System.Text;

namespace Gateway.Broker.Messages;

/// <summary>
/// AMQP field-table values as the engine holds them: <see cref="string"/> (longstr), <see cref="long"/> (signed
/// integers), <see cref="double"/> (floats), <see cref="bool"/>, <see cref="byte"/>[] (binary), lists of values
/// (arrays) and <see cref="IReadOnlyDictionary{TKey,TValue}"/> of string to value (nested tables), or null (void).
/// </summary>
public static class HeaderValues
{
    /// <summary>
    /// Equality as RabbitMQ's headers exchange compares values (Erlang <c>==</c> on the decoded values):
    /// numbers compare by value across integer and float (1 equals 1.0), strings are case-sensitive, a string
    /// never equals a number or a boolean; arrays and tables compare element-wise with their types.
    /// </summary>
    public static bool MatchEquals(object? pattern, object? value) => (pattern, value) switch
    {
        (null, null) => true,
        (long a, long b) => a == b,
        (long a, double b) => a == b,
        (double a, long b) => a == b,
        (double a, double b) => a == b,
        (string a, string b) => string.Equals(a, b, StringComparison.Ordinal),
        (bool a, bool b) => a == b,
        (byte[] a, byte[] b) => a.AsSpan().SequenceEqual(b),
        (IReadOnlyList<object?> a, IReadOnlyList<object?> b) => ListEquals(a, b),
        (IReadOnlyDictionary<string, object?> a, IReadOnlyDictionary<string, object?> b) => TableEquals(a, b),
        _ => false,
    };

    // Nested values carry their AMQP type tags in RabbitMQ, so inside arrays and tables 1 and 1.0 differ.
    private static bool StrictEquals(object? a, object? b) => a?.GetType() == b?.GetType() && MatchEquals(a, b);

    private static bool ListEquals(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (var i = 0; i < a.Count; i++)
            if (!StrictEquals(a[i], b[i])) return false;
        return true;
    }

    private static bool TableEquals(IReadOnlyDictionary<string, object?> a, IReadOnlyDictionary<string, object?> b)
    {
        if (a.Count != b.Count) return false;
        foreach (var (k, v) in a)
            if (!b.TryGetValue(k, out var w) || !StrictEquals(v, w)) return false;
        return true;
    }

    /// <summary>
    /// A canonical, type-preserving text form of a table (keys sorted ordinally), so that two argument tables are
    /// equal exactly when their canonical forms are. Used for binding identity and redeclare equivalence.
    /// </summary>
    public static string Canonical(IReadOnlyDictionary<string, object?>? table)
    {
        if (table is null || table.Count == 0) return "{}";
        var sb = new StringBuilder();
        AppendCanonical(sb, table);
        return sb.ToString();
    }

    private static void AppendCanonical(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null: sb.Append('V'); break;
            case string s: sb.Append('S').Append(s.Length).Append(':').Append(s); break;
            case long l: sb.Append('L').Append(l.ToString(CultureInfo.InvariantCulture)).Append(';'); break;
            case double d: sb.Append('D').Append(d.ToString("R", CultureInfo.InvariantCulture)).Append(';'); break;
            case bool b: sb.Append(b ? "T" : "F"); break;
            case byte[] bytes: sb.Append('X').Append(Convert.ToHexString(bytes)).Append(';'); break;
            case IReadOnlyDictionary<string, object?> t:
                sb.Append('{');
                foreach (var key in t.Keys.Order(StringComparer.Ordinal))
                {
                    sb.Append(key.Length).Append(':').Append(key);
                    AppendCanonical(sb, t[key]);
                }
                sb.Append('}');
                break;
            case IReadOnlyList<object?> list:
                sb.Append('[');
                foreach (var item in list) AppendCanonical(sb, item);
                sb.Append(']');
                break;
            default: throw new ArgumentException($"Unsupported header value type {value.GetType().Name}.");
        }
    }
}
