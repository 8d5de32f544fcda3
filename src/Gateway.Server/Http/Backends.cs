using Gateway.Broker;
using Gateway.RabbitMq;
using Gateway.Server.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Http;

/// <summary>
/// The composition root of the broker seam: the one place that knows which backend serves (Gateway:Backend). Everything
/// else asks for <see cref="IBroker"/>.
/// </summary>
internal static class Backends
{
    public static IServiceCollection AddBrokerBackend(this IServiceCollection services)
    {
        services.AddOptions<RabbitMqOptions>()
            .BindConfiguration(RabbitMqOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RabbitMqOptions>, RabbitMqOptionsValidation>();
        services.AddSingleton(sp => new RabbitMqBroker(sp.GetRequiredService<IOptions<RabbitMqOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<RabbitMqBroker>()));
        services.AddSingleton<IBroker>(sp => sp.GetRequiredService<IOptions<BackendOptions>>().Value.Backend switch
        {
            GatewayBackend.RabbitMq => sp.GetRequiredService<RabbitMqBroker>(),
            _ => sp.GetRequiredService<MessageBroker>(),
        });
        return services;
    }

    // Says what is wrong with each setting (RabbitMqOptions.Validate names them), only when RabbitMQ is the backend.
    private sealed class RabbitMqOptionsValidation(IOptions<BackendOptions> backend) : IValidateOptions<RabbitMqOptions>
    {
        public ValidateOptionsResult Validate(string? name, RabbitMqOptions options)
        {
            if (backend.Value.Backend != GatewayBackend.RabbitMq) return ValidateOptionsResult.Success;
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
