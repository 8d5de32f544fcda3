# Gateway: build with the .NET SDK, run on the ASP.NET Core runtime. Data (SQLite) lives in the /data volume.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Gateway.Server -c Release -o /app /p:OpenApiGenerateDocuments=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
COPY appsettings.json /app/appsettings.json
ENV ASPNETCORE_URLS=http://0.0.0.0:8080 \
    Gateway__DataPath=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["dotnet", "Gateway.Server.dll"]
