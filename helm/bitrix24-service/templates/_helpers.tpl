{{/*
Helpers of the bitrix24-service chart. Every template takes the chart's context (the root
"."), or, from a parent chart in sidecar mode, the subchart's context:
  {{ include "bitrix24-service.sidecarContainer" (index .Subcharts "bitrix24-service") }}
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "bitrix24-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the resources: fullnameOverride, else <release>-<name>, or the release name
alone when it already contains the name. Truncated to 63 characters (DNS label limit).
*/}}
{{- define "bitrix24-service.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "bitrix24-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "bitrix24-service.labels" -}}
helm.sh/chart: {{ include "bitrix24-service.chart" . }}
{{ include "bitrix24-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: gateway
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades (never add a value that changes). */}}
{{- define "bitrix24-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bitrix24-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
metadata.annotations of every resource (commonAnnotations plus the dict "extra"), indented for
metadata and starting with a newline; nothing when empty. Use as: `  {{- include ... }}`.
*/}}
{{- define "bitrix24-service.annotations" -}}
{{- $all := merge (deepCopy (default (dict) .extra)) (deepCopy (default (dict) .context.Values.commonAnnotations)) }}
{{- with $all }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "bitrix24-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bitrix24-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* registry/repository:tag or @digest. */}}
{{- define "bitrix24-service.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* Name of the ConfigMap with config.yaml. */}}
{{- define "bitrix24-service.configMapName" -}}
{{- printf "%s-config" (include "bitrix24-service.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of the Secret the pod reads: existingSecret or the chart's. */}}
{{- define "bitrix24-service.secretName" -}}
{{- default (include "bitrix24-service.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* Name of the SQLite PVC. */}}
{{- define "bitrix24-service.pvcName" -}}
{{- default (printf "%s-data" (include "bitrix24-service.fullname" .) | trunc 63 | trimSuffix "-") .Values.persistence.existingClaim }}
{{- end }}

{{/* The address gRPC binds: grpc.listenHost, else 0.0.0.0 (standalone) / 127.0.0.1 (sidecar). */}}
{{- define "bitrix24-service.listenHost" -}}
{{- if .Values.grpc.listenHost }}
{{- .Values.grpc.listenHost }}
{{- else if eq .Values.mode "sidecar" }}
{{- "127.0.0.1" }}
{{- else }}
{{- "0.0.0.0" }}
{{- end }}
{{- end }}

{{- define "bitrix24-service.listen" -}}
{{- printf "%s:%d" (include "bitrix24-service.listenHost" .) (int .Values.grpc.port) }}
{{- end }}

{{/* "true" when gRPC binds a loopback address only. */}}
{{- define "bitrix24-service.loopback" -}}
{{- $h := include "bitrix24-service.listenHost" . }}
{{- if or (hasPrefix "127." $h) (eq $h "localhost") (eq $h "[::1]") (eq $h "::1") }}true{{ end }}
{{- end }}

{{/* The environment variables holding the encryption and cursor keys (as the service reads them). */}}
{{- define "bitrix24-service.encryptionKeyEnv" -}}
{{- $store := default (dict) .Values.config.store }}
{{- default "B24_ENCRYPTION_KEY" $store.encryption_key_env }}
{{- end }}
{{- define "bitrix24-service.cursorKeyEnv" -}}
{{- $security := default (dict) .Values.config.security }}
{{- default "B24_CURSOR_KEY" $security.cursor_key_env }}
{{- end }}

{{/* "true" when the pod mounts a PVC (SQLite with persistence). */}}
{{- define "bitrix24-service.usesPvc" -}}
{{- if and (eq .Values.store.type "sqlite") .Values.persistence.enabled }}true{{ end }}
{{- end }}

{{/*
The data of the chart's Secret (key -> value), only non-empty values; {} with existingSecret.
Returned as YAML: fromYaml (include "bitrix24-service.secretData" .).
*/}}
{{- define "bitrix24-service.secretData" -}}
{{- $data := dict }}
{{- if not .Values.existingSecret }}
{{- if and (eq .Values.store.type "external") (not .Values.store.external.url) .Values.secrets.storeUrl .Values.secretKeys.storeUrl }}
{{- $_ := set $data .Values.secretKeys.storeUrl .Values.secrets.storeUrl }}
{{- end }}
{{- if and (include "bitrix24-service.storePassword" .) (not .Values.store.external.passwordSecret) .Values.secrets.storePassword }}
{{- $_ := set $data .Values.secretKeys.storePassword .Values.secrets.storePassword }}
{{- end }}
{{- if and .Values.secrets.encryptionKey .Values.secretKeys.encryptionKey }}
{{- $_ := set $data .Values.secretKeys.encryptionKey .Values.secrets.encryptionKey }}
{{- end }}
{{- if and .Values.secrets.cursorKey .Values.secretKeys.cursorKey }}
{{- $_ := set $data .Values.secretKeys.cursorKey .Values.secrets.cursorKey }}
{{- end }}
{{- range $name, $url := .Values.webhooks }}
{{- $_ := set $data (printf "%s%s" $.Values.secretKeys.webhookPrefix $name) $url }}
{{- end }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/*
Checks that templates cannot express in values.schema.json; fails the render with a message.
*/}}
{{- define "bitrix24-service.validate" -}}
{{- $sidecar := eq .Values.mode "sidecar" }}
{{- if and $sidecar (not (include "bitrix24-service.loopback" .)) }}
{{- fail (printf "mode=sidecar binds loopback only: grpc.listenHost %q is not 127.0.0.1, [::1] or localhost" .Values.grpc.listenHost) }}
{{- end }}
{{- if and (not $sidecar) (eq .Values.store.type "sqlite") (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "store.type=sqlite holds the tokens in one pod's file: with replicaCount > 1 or autoscaling.enabled use store.type=external (PostgreSQL) so replicas share them, or store.type=none (webhooks only, no store)" }}
{{- end }}
{{- $x := .Values.store.external }}
{{- if eq .Values.store.type "external" }}
{{- if and (not $x.url) (not .Values.secretKeys.storeUrl) }}
{{- fail "store.type=external reads the store URL from the Secret: set secretKeys.storeUrl (or store.external.url)" }}
{{- end }}
{{- if and (not $x.url) (not .Values.existingSecret) (not .Values.secrets.storeUrl) }}
{{- fail "store.type=external needs the store URL: set existingSecret (with the key secretKeys.storeUrl), secrets.storeUrl, or store.external.url (without the password)" }}
{{- end }}
{{- if and $x.url (regexMatch "(?i)(^|[ ;/\t])(password|pwd|pass)[ ]*=|://[^/@ ]*:[^/@ ]*@" $x.url) }}
{{- fail "store.external.url is not secret (it is in the pod spec): leave the password out of it; it comes from the Secret key secretKeys.storePassword as PGPASSWORD (or put the whole URL in the Secret, secretKeys.storeUrl)" }}
{{- end }}
{{- if and (include "bitrix24-service.storePassword" .) (not (hasPrefix "postgresql://" $x.url)) }}
{{- fail (printf "a store password apart from the URL is passed as PGPASSWORD, which only PostgreSQL (postgresql://) reads; for %q put the whole URL, password included, in the Secret (secretKeys.storeUrl) and leave store.external.url empty" $x.url) }}
{{- end }}
{{- end }}
{{- if and (not $sidecar) .Values.networkPolicy.enabled .Values.networkPolicy.egress.enabled (eq .Values.store.type "external") (not .Values.networkPolicy.egress.database.cidrs) (not .Values.networkPolicy.egress.database.to) (not .Values.networkPolicy.egress.extra) }}
{{- fail "networkPolicy restricts egress but names no database: set networkPolicy.egress.database.cidrs or .to (or an egress rule in networkPolicy.egress.extra), or the gateway cannot reach its store" }}
{{- end }}
{{- if and (not .Values.existingSecret) (gt (len .Values.webhooks) 0) }}
{{- range $name, $url := .Values.webhooks }}
{{- if not $url }}
{{- fail (printf "webhooks.%s has no URL (only with existingSecret may a webhook be listed by name alone)" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.existingSecret (gt (len .Values.webhooks) 0) (not .Values.secretKeys.webhookPrefix) }}
{{- fail "secretKeys.webhookPrefix must not be empty when webhooks are read from existingSecret" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (eq (toString .Values.podDisruptionBudget.minAvailable) "") (eq (toString .Values.podDisruptionBudget.maxUnavailable) "") }}
{{- fail "podDisruptionBudget.enabled needs minAvailable or maxUnavailable" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "tls.enabled needs tls.existingSecret (a Secret with the certificate and key)" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (eq (int .Values.autoscaling.targetCPUUtilizationPercentage) 0) (eq (int .Values.autoscaling.targetMemoryUtilizationPercentage) 0) }}
{{- fail "autoscaling.enabled needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" }}
{{- end }}
{{- end }}

{{/*
The service's config.yaml: .Values.config plus the keys the chart owns that are files (tls.*).
listen is a flag (bitrix24-service.args); store.url and metrics.listen are environment
variables (bitrix24-service.env): the image sets B24_STORE_URL, and the environment wins over
the file, so a store.url here would be ignored. No secret is ever part of it.
*/}}
{{- define "bitrix24-service.config" -}}
{{- $cfg := deepCopy (default (dict) .Values.config) }}
{{- $_ := set $cfg "listen" (include "bitrix24-service.listen" .) }}
{{- if .Values.tls.enabled }}
{{- $tls := dict "cert_file" (printf "%s/%s" .Values.tls.mountPath .Values.tls.certKey) "key_file" (printf "%s/%s" .Values.tls.mountPath .Values.tls.keyKey) }}
{{- if .Values.tls.clientCaKey }}
{{- $_ := set $tls "client_ca_file" (printf "%s/%s" .Values.tls.mountPath .Values.tls.clientCaKey) }}
{{- end }}
{{- $_ := set $cfg "tls" $tls }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* Arguments of the gateway: the config file, then listen as a flag (flags win over B24_LISTEN). */}}
{{- define "bitrix24-service.args" -}}
- --config=/etc/bitrix24-service/config/config.yaml
- --listen={{ include "bitrix24-service.listen" . }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* The SQLite URL of store.type=sqlite. */}}
{{- define "bitrix24-service.sqliteUrl" -}}
{{- printf "sqlite3://db=%s/%s" (trimSuffix "/" .Values.persistence.mountPath) .Values.store.sqliteFile }}
{{- end }}

{{/* The Secret holding the store password (store.external.url): passwordSecret or the pod's Secret. */}}
{{- define "bitrix24-service.storePasswordSecret" -}}
{{- default (include "bitrix24-service.secretName" .) .Values.store.external.passwordSecret }}
{{- end }}

{{/* "true" when PGPASSWORD is read from a Secret (store.external.url without a password in it). */}}
{{- define "bitrix24-service.storePassword" -}}
{{- $x := .Values.store.external }}
{{- if and (eq .Values.store.type "external") $x.url .Values.secretKeys.storePassword (or $x.passwordSecret .Values.existingSecret .Values.secrets.storePassword) }}true{{ end }}
{{- end }}

{{/*
B24_STORE_URL, always set: the image's own B24_STORE_URL (its SQLite default) would otherwise
win over config.yaml. sqlite: the file on the data volume; none: no store (webhooks only);
external: store.external.url as it is (the password, if any, as PGPASSWORD from a Secret,
which libpq reads when the URL has none), else the whole URL from the Secret.
*/}}
{{- define "bitrix24-service.storeEnv" -}}
{{- if eq .Values.store.type "sqlite" }}
- name: B24_STORE_URL
  value: {{ include "bitrix24-service.sqliteUrl" . | quote }}
{{- else if eq .Values.store.type "none" }}
- name: B24_STORE_URL
  value: "none"
{{- else if .Values.store.external.url }}
{{- if include "bitrix24-service.storePassword" . }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "bitrix24-service.storePasswordSecret" . }}
      key: {{ .Values.secretKeys.storePassword }}
{{- end }}
- name: B24_STORE_URL
  value: {{ .Values.store.external.url | quote }}
{{- else }}
- name: B24_STORE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "bitrix24-service.secretName" . }}
      key: {{ .Values.secretKeys.storeUrl }}
{{- end }}
{{- end }}

{{/*
Environment variables of the gateway and of schema-init: the store, then the secrets, each
from a Secret by reference (valueFrom.secretKeyRef), never inline; then extraEnv.
*/}}
{{- define "bitrix24-service.env" -}}
{{- $secret := include "bitrix24-service.secretName" . }}
{{- $data := fromYaml (include "bitrix24-service.secretData" .) }}
{{- $external := .Values.existingSecret }}
{{- include "bitrix24-service.storeEnv" . }}
{{- if and .Values.secretKeys.encryptionKey (or $external (hasKey $data .Values.secretKeys.encryptionKey)) }}
- name: {{ include "bitrix24-service.encryptionKeyEnv" . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.secretKeys.encryptionKey }}
{{- end }}
{{- if and .Values.secretKeys.cursorKey (or $external (hasKey $data .Values.secretKeys.cursorKey)) }}
- name: {{ include "bitrix24-service.cursorKeyEnv" . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.secretKeys.cursorKey }}
{{- end }}
{{- range $name, $url := .Values.webhooks }}
- name: B24_WEBHOOK_{{ upper $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ printf "%s%s" $.Values.secretKeys.webhookPrefix $name }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* B24_METRICS_LISTEN of the gateway container (not of schema-init), when metrics.enabled. */}}
{{- define "bitrix24-service.metricsEnv" -}}
{{- if .Values.metrics.enabled }}
- name: B24_METRICS_LISTEN
  value: {{ printf "0.0.0.0:%d" (int .Values.metrics.port) | quote }}
{{- end }}
{{- end }}

{{/* Volume mounts of the gateway container. */}}
{{- define "bitrix24-service.volumeMounts" -}}
- name: bitrix24-config
  mountPath: /etc/bitrix24-service/config
  readOnly: true
- name: bitrix24-tmp
  mountPath: /tmp
{{- if eq .Values.store.type "sqlite" }}
- name: bitrix24-data
  mountPath: {{ .Values.persistence.mountPath }}
{{- end }}
{{- if .Values.tls.enabled }}
- name: bitrix24-tls
  mountPath: {{ .Values.tls.mountPath }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The volumes the gateway container mounts (sidecar mode: add them to your pod). */}}
{{- define "bitrix24-service.volumes" -}}
- name: bitrix24-config
  configMap:
    name: {{ include "bitrix24-service.configMapName" . }}
- name: bitrix24-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if eq .Values.store.type "sqlite" }}
- name: bitrix24-data
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "bitrix24-service.pvcName" . }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end }}
{{- if .Values.tls.enabled }}
- name: bitrix24-tls
  secret:
    secretName: {{ .Values.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* auto -> grpc, exec or tcp (see values.yaml probes.type). */}}
{{- define "bitrix24-service.probeType" -}}
{{- if ne .Values.probes.type "auto" }}
{{- .Values.probes.type }}
{{- else if include "bitrix24-service.loopback" . }}
{{- "exec" }}
{{- else if .Values.tls.enabled }}
{{- "tcp" }}
{{- else }}
{{- "grpc" }}
{{- end }}
{{- end }}

{{/*
The type of the liveness probe. With probes.liveness.ignoreStoreHealth the health service's
NOT_SERVING (the token store does not answer, or the gateway drains) must not restart the
container: "alive" is an exec probe that passes when the health service answers at all. It
needs the gateway on a loopback or wildcard address (b24ctl dials 127.0.0.1 / [::1]) and no
TLS; otherwise tcp.
*/}}
{{- define "bitrix24-service.livenessType" -}}
{{- $t := include "bitrix24-service.probeType" . }}
{{- $h := include "bitrix24-service.listenHost" . }}
{{- if or (not .Values.probes.liveness.ignoreStoreHealth) (eq $t "tcp") }}
{{- $t }}
{{- else if or (eq $t "exec") (has $h (list "0.0.0.0" "[::]" "::")) }}
{{- "alive" }}
{{- else }}
{{- "tcp" }}
{{- end }}
{{- end }}

{{/* The address b24ctl dials from inside the container: [::1] for an IPv6 loopback bind, else 127.0.0.1. */}}
{{- define "bitrix24-service.probeTarget" -}}
{{- $h := include "bitrix24-service.listenHost" . }}
{{- printf "%s:%d" (ternary "[::1]" "127.0.0.1" (has $h (list "[::1]" "::1"))) (int .Values.grpc.port) }}
{{- end }}

{{/* One probe: dict "context" $ "probe" .Values.probes.liveness "type" (grpc, exec, alive or tcp). */}}
{{- define "bitrix24-service.probe" -}}
{{- $ctx := .context }}
{{- $type := .type }}
{{- $timeout := max 1 (sub (int .probe.timeoutSeconds) 1) }}
{{- if eq $type "grpc" }}
grpc:
  port: {{ $ctx.Values.grpc.port }}
{{- else if eq $type "tcp" }}
tcpSocket:
  port: grpc
{{- else if $ctx.Values.probes.execCommand }}
exec:
  command:
    {{- toYaml $ctx.Values.probes.execCommand | nindent 4 }}
{{- else if eq $type "alive" }}
exec:
  command:
    - sh
    - -c
    - {{ printf `b24ctl --target=%s --timeout=%d --output=json health | grep -q '"status"'` (include "bitrix24-service.probeTarget" $ctx) $timeout | quote }}
{{- else }}
exec:
  command:
    - b24ctl
    - --target={{ include "bitrix24-service.probeTarget" $ctx }}
    - --timeout={{ $timeout }}
    - health
{{- end }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
successThreshold: {{ .probe.successThreshold }}
{{- end }}

{{/*
The gateway container (one list item), shared by the Deployment (standalone), the demo
Deployment and bitrix24-service.sidecarContainer.
*/}}
{{- define "bitrix24-service.container" -}}
{{- include "bitrix24-service.validate" . -}}
- name: {{ if eq .Values.mode "sidecar" }}{{ .Values.sidecar.containerName }}{{ else }}{{ .Chart.Name }}{{ end }}
  image: {{ include "bitrix24-service.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- if and (eq .Values.mode "sidecar") .Values.sidecar.native }}
  restartPolicy: Always
{{- end }}
  command:
    {{- toYaml .Values.command | nindent 4 }}
  args:
    {{- include "bitrix24-service.args" . | trim | nindent 4 }}
  ports:
    - name: grpc
      containerPort: {{ .Values.grpc.port }}
      protocol: TCP
{{- if .Values.metrics.enabled }}
    - name: metrics
      containerPort: {{ .Values.metrics.port }}
      protocol: TCP
{{- end }}
  env:
    {{- include "bitrix24-service.env" . | trim | nindent 4 }}
    {{- with (include "bitrix24-service.metricsEnv" . | trim) }}
    {{- . | nindent 4 }}
    {{- end }}
{{- with .Values.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- if .Values.probes.startup.enabled }}
  startupProbe:
    {{- include "bitrix24-service.probe" (dict "context" . "probe" .Values.probes.startup "type" (include "bitrix24-service.probeType" .)) | trim | nindent 4 }}
{{- end }}
{{- if .Values.probes.liveness.enabled }}
  livenessProbe:
    {{- include "bitrix24-service.probe" (dict "context" . "probe" .Values.probes.liveness "type" (include "bitrix24-service.livenessType" .)) | trim | nindent 4 }}
{{- end }}
{{- if .Values.probes.readiness.enabled }}
  readinessProbe:
    {{- include "bitrix24-service.probe" (dict "context" . "probe" .Values.probes.readiness "type" (include "bitrix24-service.probeType" .)) | trim | nindent 4 }}
{{- end }}
{{- with .Values.lifecycle }}
  lifecycle:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
{{- end }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "bitrix24-service.volumeMounts" . | trim | nindent 4 }}
{{- end }}

{{/* The init container running "schema init" against the external store. */}}
{{- define "bitrix24-service.schemaInitContainer" -}}
- name: schema-init
  image: {{ include "bitrix24-service.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command:
    {{- toYaml .Values.command | nindent 4 }}
  args:
    - schema
    - init
    - --config=/etc/bitrix24-service/config/config.yaml
  env:
    {{- include "bitrix24-service.env" . | trim | nindent 4 }}
{{- with .Values.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
{{- end }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "bitrix24-service.volumeMounts" . | trim | nindent 4 }}
{{- end }}

{{/* sha256 of config.yaml (and of the chart's Secret), for pod annotations that roll the pods. */}}
{{- define "bitrix24-service.checksumAnnotations" -}}
checksum/bitrix24-config: {{ include "bitrix24-service.config" . | sha256sum }}
{{- if not .Values.existingSecret }}
checksum/bitrix24-secret: {{ include "bitrix24-service.secretData" . | sha256sum }}
{{- end }}
{{- end }}

{{/*
==== Sidecar mode: the named templates an application's chart includes. ====
Add the chart as a dependency, set `bitrix24-service: {mode: sidecar, ...}` in your values and
in your pod template:
  annotations:
    {{- include "bitrix24-service.sidecarPodAnnotations" (index .Subcharts "bitrix24-service") | nindent 8 }}
  containers:            # or initContainers with sidecar.native: true
    {{- include "bitrix24-service.sidecarContainer" (index .Subcharts "bitrix24-service") | nindent 8 }}
  volumes:
    {{- include "bitrix24-service.sidecarVolumes" (index .Subcharts "bitrix24-service") | nindent 8 }}
*/}}
{{- define "bitrix24-service.sidecarContainer" -}}
{{- if ne .Values.mode "sidecar" }}
{{- fail "bitrix24-service.sidecarContainer needs mode: sidecar in the bitrix24-service values (the container must bind 127.0.0.1)" }}
{{- end }}
{{- include "bitrix24-service.container" . | trim }}
{{- end }}

{{/* The init container of store.schemaInit in sidecar mode (include it under initContainers). */}}
{{- define "bitrix24-service.sidecarInitContainers" -}}
{{- if and .Values.store.schemaInit.enabled (eq .Values.store.type "external") }}
{{- include "bitrix24-service.schemaInitContainer" . | trim }}
{{- end }}
{{- end }}

{{- define "bitrix24-service.sidecarVolumes" -}}
{{- include "bitrix24-service.volumes" . | trim }}
{{- end }}

{{- define "bitrix24-service.sidecarPodAnnotations" -}}
{{- include "bitrix24-service.checksumAnnotations" . | trim }}
{{- end }}

{{/*
Egress rules (NetworkPolicyEgressRule list) the gateway needs: DNS, the portals, the database
and networkPolicy.egress.extra. Used by the chart's NetworkPolicy; in sidecar mode include it in
your app's NetworkPolicy.
*/}}
{{- define "bitrix24-service.networkPolicyEgress" -}}
{{- $e := .Values.networkPolicy.egress -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- with $e.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
{{- end }}
- ports:
{{- range $e.portals.ports }}
    - port: {{ . }}
      protocol: TCP
{{- end }}
  to:
{{- range $e.portals.ipBlocks }}
    - ipBlock:
        {{- toYaml . | nindent 8 }}
{{- end }}
{{- if and (eq .Values.store.type "external") (or $e.database.cidrs $e.database.to) }}
- ports:
    - port: {{ $e.database.port }}
      protocol: TCP
  to:
{{- range $e.database.cidrs }}
    - ipBlock:
        cidr: {{ . }}
{{- end }}
{{- with $e.database.to }}
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end }}
{{- with $e.extra }}
{{ toYaml . }}
{{- end }}
{{- end }}
