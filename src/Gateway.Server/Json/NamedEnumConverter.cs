using System.Text.Json.Serialization;

namespace Gateway.Server.Json;

/// <summary>
/// Reads and writes an enum by its <see cref="JsonStringEnumMemberNameAttribute"/> names only. The plain
/// <see cref="JsonStringEnumConverter{TEnum}"/> also accepts numbers (<c>5</c>, <c>"1"</c>), even ones no member has:
/// an <c>ackMode</c> of 5 acknowledged like <c>auto</c>, an exchange <c>type</c> of 7 declared a headers exchange.
/// </summary>
internal sealed class NamedEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(namingPolicy: null, allowIntegerValues: false)
    where TEnum : struct, Enum;
