# Multi-stage build: a static binary on a distroless, non-root base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/lumbar-mri-cds ./cmd/lumbar-mri-cds \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lumbar-mri-cds /usr/local/bin/lumbar-mri-cds
# The data folder belongs to the non-root user, so a fresh volume is writable.
COPY --from=build --chown=nonroot:nonroot /out/data /data
COPY testdata/scenarios /usr/share/lumbar-mri-cds/scenarios
USER nonroot:nonroot
ENV LUMBAR_MRI_CDS_ADDR=0.0.0.0:8080 \
    LUMBAR_MRI_CDS_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/lumbar-mri-cds"]
CMD ["serve"]
