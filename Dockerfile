# Gateway: built with the .NET SDK, run on the ASP.NET Core runtime as a non-root user; the SQLite file lives in the
# /data volume. These are the README's "Run a published build" steps (DockerfileTests checks that they stay the same).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Gateway.Server -c Release -o /app /p:OpenApiGenerateDocuments=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
COPY appsettings.json /app/appsettings.json
# The image's non-root user (APP_UID, 1654) owns the data folder.
RUN mkdir -p /data && chown "$APP_UID" /data
USER $APP_UID
ENV Urls=http://0.0.0.0:8080 \
    Gateway__Amqp__Address=0.0.0.0 \
    Gateway__DataPath=/data
VOLUME /data
EXPOSE 8080 5672
# The runtime image has no curl or wget: the server's own 'probe' command asks /healthz (exit 0 when it answers 2xx).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dotnet", "Gateway.Server.dll", "probe", "http://127.0.0.1:8080/healthz"]
# SIGTERM (docker stop) is a graceful stop bounded by Gateway:Shutdown:TimeoutSeconds (10 s, docker stop's own wait).
ENTRYPOINT ["dotnet", "Gateway.Server.dll"]
