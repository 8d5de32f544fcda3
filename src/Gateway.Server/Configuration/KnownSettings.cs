using System.Reflection;
using Gateway.Server.Contracts;
using Gateway.Storage;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Configuration;

/// <summary>
/// Fails the start when configuration holds a <c>Gateway:*</c> key that no setting reads: a typo
/// (<c>Gateway__Limits__MaxMesageBytes</c>) would otherwise be ignored silently and the default used.
/// </summary>
internal sealed class KnownSettings(IConfiguration configuration) : IValidateOptions<KnownSettings.Marker>
{
    /// <summary>The options type this check hangs on, so that it runs with the other validations at start.</summary>
    public sealed class Marker;

    /// <summary>Every options section under <c>Gateway</c> and the type bound from it.</summary>
    public static readonly IReadOnlyList<(string Section, Type Type)> Sections =
    [
        ("Gateway:Limits", typeof(GatewayLimitsOptions)),
        ("Gateway:Storage", typeof(StorageOptions)),
        ("Gateway:Statistics", typeof(StatisticsOptions)),
        ("Gateway:Shutdown", typeof(ShutdownOptions)),
        ("Gateway:Definitions", typeof(DefinitionsOptions)),
        ("Gateway:Auth", typeof(Security.AuthOptions)),
        ("Gateway:EventStream", typeof(Endpoints.EventStreamOptions)),
        ("Gateway:Webhooks", typeof(Webhooks.WebhookOptions)),
        (Gateway.RabbitMq.RabbitMqOptions.Section, typeof(Gateway.RabbitMq.RabbitMqOptions)),
        (Gateway.Amqp.AmqpOptions.Section, typeof(Gateway.Amqp.AmqpOptions)),
    ];

    /// <summary>Settings read on their own.</summary>
    public static readonly IReadOnlyList<string> Keys = ["Gateway:DataPath", BackendOptions.Key];

    // Gateway:Auth:AllowedOrigins:0: an element of a list setting.
    private static bool IsElementOfKnown(string key, HashSet<string> known) =>
        key.LastIndexOf(':') is var colon and > 0 && int.TryParse(key.AsSpan(colon + 1), out _) && known.Contains(key[..colon]);

    public ValidateOptionsResult Validate(string? name, Marker options)
    {
        var known = new HashSet<string>(Keys, StringComparer.OrdinalIgnoreCase);
        foreach (var (section, type) in Sections)
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
                known.Add($"{section}:{property.Name}");
        var unknown = configuration.GetSection("Gateway").AsEnumerable()
            .Where(pair => !configuration.GetSection(pair.Key).GetChildren().Any()) // leaves only
            .Where(pair => !known.Contains(pair.Key) && !IsElementOfKnown(pair.Key, known))
            .Select(pair => pair.Key).Order(StringComparer.OrdinalIgnoreCase).ToList();
        return unknown.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(unknown.Select(key => $"Unknown setting {key}: no setting of that name exists (see the README's configuration table)."));
    }
}
