using Gateway.Amqp;
using Gateway.Broker;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Amqp;

/// <summary>
/// Runs the AMQP 0-9-1 listener (<c>Gateway:Amqp</c>) with the host: the port is bound at start (a port in use
/// fails the start, naming it), connections are accepted once recovery has finished (until then they wait in the
/// listen backlog, as HTTP requests get 503), and at shutdown every connection is closed with 320 CONNECTION_FORCED.
/// </summary>
public sealed class AmqpListenerService(IServiceProvider services, IOptions<AmqpOptions> options, ReadinessState readiness) : IHostedService
{
    /// <summary>The listener, once started (null when Gateway:Amqp:Enabled is false).</summary>
    public AmqpListener? Listener { get; private set; }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled || Durability.IsDocumentGeneration) return;
        var limits = services.GetRequiredService<IOptions<GatewayLimitsOptions>>().Value;
        var listener = new AmqpListener(services.GetRequiredService<IBroker>(), new AmqpAuthority(services.GetRequiredService<Security.Access>()), options.Value,
            new AmqpLimits(limits.MaxMessageBytes, limits.MaxPrefetch), services.GetRequiredService<ILoggerFactory>(),
            services.GetRequiredService<Capacity.MemoryAlarm>() is var alarm ? () => alarm.IsRaised : null);
        try
        {
            await listener.StartAsync(readiness.Ready, cancellationToken);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // A start failure naming the setting, as an invalid value is ("Gateway cannot start: …", exit code 1).
            throw new OptionsValidationException(AmqpOptions.Section, typeof(AmqpOptions),
            [
                $"The AMQP listener could not bind {options.Value.Address}:{options.Value.Port} ({e.SocketErrorCode}): set {AmqpOptions.Section}:Port " +
                $"to a free port, or {AmqpOptions.Section}:Enabled to false.",
            ]);
        }
        Listener = listener;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Listener is { } listener) await listener.StopAsync(cancellationToken);
    }
}

/// <summary>Fails the start with the message of the first invalid <c>Gateway:Amqp</c> setting, naming it.</summary>
internal sealed class AmqpOptionsValidation : IValidateOptions<AmqpOptions>
{
    public ValidateOptionsResult Validate(string? name, AmqpOptions options) =>
        options.Validate() is { } invalid ? ValidateOptionsResult.Fail(invalid) : ValidateOptionsResult.Success;
}
