# Chunk vectors stored beside their chunks, and the claim of a document's embedding.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('research', '0018_import_batch'),
    ]

    operations = [
        migrations.AddField(
            model_name='document',
            name='vectors_claimed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='ChunkVector',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('model', models.CharField(max_length=200)),
                ('dims', models.PositiveIntegerField()),
                ('vector', models.BinaryField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('chunk', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='vectors', to='research.chunk')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('chunk', 'model'), name='unique_chunk_vector_model')],
            },
        ),
    ]
