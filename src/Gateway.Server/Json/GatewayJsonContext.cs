using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Server.Contracts;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Server.Json;

/// <summary>Source-generated JSON metadata for every type the API reads or writes.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(PublishRequest))]
[JsonSerializable(typeof(PublishResult))]
[JsonSerializable(typeof(BatchPublishRequest))]
[JsonSerializable(typeof(BatchPublishResponse))]
[JsonSerializable(typeof(GetRequest))]
[JsonSerializable(typeof(List<DeliveryDto>))]
[JsonSerializable(typeof(DeliveryDto))]
[JsonSerializable(typeof(AckRequest))]
[JsonSerializable(typeof(NackRequest))]
[JsonSerializable(typeof(ExtendRequest))]
[JsonSerializable(typeof(VhostInfo))]
[JsonSerializable(typeof(List<VhostInfo>))]
[JsonSerializable(typeof(ExchangeDeclareRequest))]
[JsonSerializable(typeof(ExchangeInfo))]
[JsonSerializable(typeof(List<ExchangeInfo>))]
[JsonSerializable(typeof(QueueDeclareRequest))]
[JsonSerializable(typeof(QueueInfo))]
[JsonSerializable(typeof(List<QueueInfo>))]
[JsonSerializable(typeof(BindingRequest))]
[JsonSerializable(typeof(BindingInfo))]
[JsonSerializable(typeof(List<BindingInfo>))]
[JsonSerializable(typeof(PurgeResult))]
[JsonSerializable(typeof(UserRequest))]
[JsonSerializable(typeof(UserDto))]
[JsonSerializable(typeof(List<UserDto>))]
[JsonSerializable(typeof(KeyRequest))]
[JsonSerializable(typeof(KeyDto))]
[JsonSerializable(typeof(List<KeyDto>))]
[JsonSerializable(typeof(CreatedKeyDto))]
[JsonSerializable(typeof(PermissionRequest))]
[JsonSerializable(typeof(PermissionDto))]
[JsonSerializable(typeof(List<PermissionDto>))]
[JsonSerializable(typeof(TicketDto))]
[JsonSerializable(typeof(WhoAmIDto))]
[JsonSerializable(typeof(Gateway.Server.WebSockets.ClientFrame))]
[JsonSerializable(typeof(Gateway.Server.WebSockets.ServerFrame))]
[JsonSerializable(typeof(Gateway.Server.Endpoints.ResumedEvent))]
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(HttpValidationProblemDetails))]
public sealed partial class GatewayJsonContext : JsonSerializerContext;
