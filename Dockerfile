# The Lamina image used by docker-compose.temporal.yml for the `api` and `worker` services.
FROM node:20-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends ntfs-3g ntfs-3g-dev libhivex-dev libhivex-bin \
      libwin-hivex-perl qemu-utils qemu-block-extra gdisk fdisk mtools dosfstools ldap-utils libiscsi-bin \
      libiscsi-dev zlib1g-dev tgt \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/lamina
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The native compositor (node-gyp) and the console (vite) are built with dev dependencies, before the prune.
RUN npm run build:native && npm run build && npm run build:console && npm prune --omit=dev
ENV LAMINA_DATA_DIR=/var/lib/lamina LAMINA_API_HOST=0.0.0.0
VOLUME /var/lib/lamina
ENTRYPOINT ["bin/lamina"]
