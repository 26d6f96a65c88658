from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('research', '0016_page_read_by_ocr'),
    ]

    operations = [
        migrations.AddField(
            model_name='question',
            name='answer_mode',
            field=models.CharField(
                choices=[('generated', 'An answer written by the model'), ('passages', 'Retrieved passages')],
                default='generated',
                max_length=16,
            ),
        ),
    ]
